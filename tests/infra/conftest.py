"""The local server's protocol on a loopback port, in this process (so its threads can be counted), against the
test's embedded AWS."""

import threading
import time
from collections.abc import Iterator

import pytest

from infra.local_http import request_timeouts


@pytest.fixture
def server(aws, app) -> Iterator[int]:  # type: ignore[no-untyped-def]
    import uvicorn

    protocol = request_timeouts({"AGENTCTX_HEADER_TIMEOUT_SECONDS": "0.5", "AGENTCTX_BODY_TIMEOUT_SECONDS": "0.5"})
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", http=protocol)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.01)
    yield running.servers[0].sockets[0].getsockname()[1]
    running.should_exit = True
    thread.join(timeout=10)
