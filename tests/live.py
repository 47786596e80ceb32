"""The app served over real HTTP on a loopback port, in a thread of the test process (so it shares the test's moto):
for what must cross a socket, a browser, the Python client or the Everruns SDK."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serves the ASGI app until the block ends; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve_with_consumers(app: Any, queues: dict[str, str], consumers: dict[str, str]) -> Iterator[str]:
    """`serve`, with queue consumers running beside it as `make serve` runs them: queue logical id -> the logical id of
    the function that consumes it (in template.yaml)."""
    from infra.local_worker import QueueWorker
    from tests.template.conftest import functions, load_handler, sam_template

    template = functions(sam_template())
    workers = [QueueWorker(queues[queue], load_handler(template[function])) for queue, function in consumers.items()]
    for worker in workers:
        worker.start()
    try:
        with serve(app) as url:
            yield url
    finally:
        for worker in workers:
            worker.stop_soon()
        for worker in workers:
            worker.stop()
