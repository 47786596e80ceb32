"""`make serve` under writers: each write's latency, and how many acknowledged writes a kill -9 loses, by the size
of the saved state.

Writers create sessions (one DynamoDB transaction each) for WRITE_SECONDS, the server is killed with SIGKILL while
they write, and a new server on the same state is asked for every session whose creation was answered 201.

Run: .venv/bin/python -m tests.benchmarks.local_durability_bench
"""

import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

STATE_MEGABYTES = [1, 100]
WRITERS = 4
WRITE_SECONDS = 12.0
KEY = "ctx_bench_durability_key"


def _write_until_killed(url: str, acknowledged: list[str], latencies: list[float]) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as http:
        while True:
            started = time.perf_counter()
            try:
                created = http.post("/v1/aip/sessions", json={"name": "bench"})
            except httpx.TransportError:
                return
            if created.status_code == 201:
                latencies.append((time.perf_counter() - started) * 1000)
                acknowledged.append(created.json()["data"]["id"])


def durability_rows() -> list[str]:
    from tests.local.server import LocalServer, free_port, write_ballast_state

    rows = [
        f"| saved state | writes answered in {WRITE_SECONDS:g} s ({WRITERS} writers) | p50 ms | p99 ms | max ms "
        "| acknowledged writes lost on kill -9 |",
        "|---|---|---|---|---|---|",
    ]
    for megabytes in STATE_MEGABYTES:
        folder = Path(tempfile.mkdtemp(prefix="agentctx-durability-"))
        write_ballast_state(folder / "state", megabytes)
        server = LocalServer(folder / "state", free_port(), folder / "first.log", AIP_API_KEY=KEY).wait_ready(300)
        acknowledged: list[str] = []
        latencies: list[float] = []
        writers = [
            threading.Thread(target=_write_until_killed, args=(server.url, acknowledged, latencies))
            for _ in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        time.sleep(WRITE_SECONDS)
        server.stop(signal.SIGKILL)
        for writer in writers:
            writer.join()
        again = LocalServer(folder / "state", free_port(), folder / "second.log", AIP_API_KEY=KEY).wait_ready(300)
        with httpx.Client(base_url=again.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as http:
            lost = sum(http.get(f"/v1/aip/sessions/{sid}").status_code != 200 for sid in acknowledged)
        again.stop(signal.SIGTERM)
        cuts = statistics.quantiles(latencies, n=100)
        rows.append(
            f"| {megabytes} MB | {len(acknowledged):,} | {cuts[49]:.0f} | {cuts[98]:.0f} | {max(latencies):.0f} "
            f"| {lost:,} |"
        )
    return rows


if __name__ == "__main__":
    print("\n".join(durability_rows()))
