"""Event streams on the local server's protocol: open streams take no request threads, so other requests still
answer; a stream whose client left stops at once; a stream whose key is revoked ends within the key-cache window."""

import http.client
import socket
import threading
import time

import pytest

from agentctx.settings import get_settings
from agentctx.wiring import context_store
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.serial  # counts this process's threads, and waits on a real server


@pytest.fixture
def quiet_streams(monkeypatch):  # type: ignore[no-untyped-def]
    """Streams that, left alone, would stay open and silent for a minute: no heartbeat, no end, within a test."""
    monkeypatch.setattr(get_settings(), "sse_heartbeat_seconds", 30.0)
    monkeypatch.setattr(get_settings(), "sse_max_seconds", 60.0)


@pytest.fixture
def session(api, code_assistant) -> str:  # type: ignore[no-untyped-def]
    return api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"], "title": "watched"}).json()["id"]


def open_stream(port: int, key: str, session_id: str) -> socket.socket:
    """An SSE stream on a raw socket, read up to its `connected` event."""
    stream = socket.create_connection(("127.0.0.1", port), timeout=10)
    headers = f"Host: x\r\nX-API-Key: {key}\r\nConnection: close"  # so the server closes it once it ends
    stream.sendall(f"GET /v1/sessions/{session_id}/sse HTTP/1.1\r\n{headers}\r\n\r\n".encode())
    received = b""
    while b"event: connected" not in received:
        chunk = stream.recv(4096)
        assert chunk, received
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received
    return stream


def still_open(stream: socket.socket) -> bool:
    stream.setblocking(False)
    try:
        return stream.recv(4096) != b""  # a heartbeat or an event
    except BlockingIOError:
        return True  # nothing to read, and not closed
    finally:
        stream.setblocking(True)


def get(port: int, path: str, key: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"X-API-Key": key})
        return connection.getresponse().status
    finally:
        connection.close()


def test_45_open_streams_take_no_threads_and_other_requests_still_answer(server, api, session, quiet_streams):
    assert get(server, "/v1/aip/sessions", api.key) == 200  # the request threadpool has started
    threads = threading.active_count()

    streams = [open_stream(server, api.key, session) for _ in range(45)]
    try:
        assert get(server, "/v1/sessions", api.key) == 200
        assert threading.active_count() - threads <= 8, [thread.name for thread in threading.enumerate()]
        assert all(still_open(stream) for stream in streams)
    finally:
        for stream in streams:
            stream.close()


def test_a_stream_whose_client_left_reads_nothing_more(server, api, session, quiet_streams, monkeypatch):
    reads = []
    events = context_store().events
    read = events.read
    monkeypatch.setattr(events, "read", lambda *args: reads.append(1) or read(*args))
    streams = [open_stream(server, api.key, session) for _ in range(5)]

    for stream in streams:
        stream.close()
    time.sleep(0.3)  # the disconnects reach the server; a stream that missed one would poll every 0.02 s
    left = len(reads)
    time.sleep(0.3)

    assert len(reads) == left


def test_a_revoked_keys_streams_end_within_the_key_cache_window(server, api, session, quiet_streams, monkeypatch):
    monkeypatch.setattr(get_settings(), "api_key_cache_seconds", 1)
    admin = {"X-Admin-Key": ADMIN_KEY}
    issued = api.http.post(f"/v1/admin/tenants/{api.tenant_id}/keys", headers=admin).json()["data"]
    streams = [open_stream(server, issued["key"], session) for _ in range(3)]
    began = time.monotonic()

    assert api.http.delete(f"/v1/admin/tenants/{api.tenant_id}/keys/{issued['id']}", headers=admin).status_code == 200

    for stream in streams:
        received = b""
        while chunk := stream.recv(4096):
            received += chunk
        assert b"event: disconnecting" in received and b'"reason": "unauthorized"' in received, received
        stream.close()
    assert time.monotonic() - began < 1 + 2  # the window, and a poll or two
    assert get(server, "/v1/sessions", issued["key"]) == 401
