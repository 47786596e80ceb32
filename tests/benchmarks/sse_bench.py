"""`make serve` with many open event streams: how long a session listing takes beside them, and the server's
threads, by the number of open streams (quiet streams: the log has no new events).

Run: .venv/bin/python -m tests.benchmarks.sse_bench
"""

import socket
import tempfile
import time
from pathlib import Path

import httpx

STREAMS = [0, 45, 200]
KEY = "ctx_sse_bench_key"


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def _open_stream(port: int, session_id: str) -> socket.socket:
    stream = socket.create_connection(("127.0.0.1", port), timeout=30)
    request = f"GET /v1/sessions/{session_id}/sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n"
    stream.sendall(request.encode())
    received = b""
    while b"event: connected" not in received:
        received += stream.recv(4096)
    return stream


def rows() -> list[str]:
    from tests.local.server import LocalServer, free_port

    folder = Path(tempfile.mkdtemp(prefix="agentctx-sse-"))
    server = LocalServer(folder / "state", free_port(), folder / "server.log", AIP_API_KEY=KEY).wait_ready()
    table = ["| open streams | GET /v1/sessions ms (median of 5) | server threads |", "|---|---|---|"]
    try:
        http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        agent = http.get("/v1/agents").json()["data"][0]
        session = http.post("/v1/sessions", json={"agent_id": agent["id"], "title": "watched"}).json()
        streams: list[socket.socket] = []
        for count in STREAMS:
            streams += [_open_stream(server.port, session["id"]) for _ in range(count - len(streams))]
            times = []
            for _ in range(5):
                started = time.perf_counter()
                assert http.get("/v1/sessions").status_code == 200
                times.append((time.perf_counter() - started) * 1000)
            table.append(f"| {count} | {sorted(times)[2]:.0f} | {_threads(server.process.pid)} |")
        for stream in streams:
            stream.close()
    finally:
        server.stop()
    return table


if __name__ == "__main__":
    print("\n".join(rows()))
