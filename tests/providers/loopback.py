"""A one-route HTTP server on 127.0.0.1 that answers each request with the next recorded response, or with what a
responder computes from it."""

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)


@dataclass
class Loopback:
    url: str
    requests: list[dict] = field(default_factory=list)


@contextmanager
def serve(responses: list[Recorded]) -> Iterator[Loopback]:
    pending = list(responses)
    with serve_with(lambda _request: pending.pop(0)) as loopback:
        yield loopback


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that closes its kept-alive connection is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def serve_with(respond: Callable[[dict], Recorded]) -> Iterator[Loopback]:
    """Answer each request with `respond(request)`; the request dict it gets is the one recorded, so it may add to it.

    Requests may arrive on several threads at once: a stateful responder locks its own state."""
    loopback = Loopback(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = {"path": self.path, "headers": dict(self.headers), "body": json.loads(body) if body else None}
            loopback.requests.append(request)
            recorded = respond(request)
            self.send_response(recorded.status)
            for name, value in recorded.headers.items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in recorded.chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    # A short poll lets shutdown() return in 50 ms instead of the default 500 ms, once per server a test starts.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    loopback.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield loopback
    finally:
        server.shutdown()
        server.server_close()
