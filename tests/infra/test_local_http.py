"""The local server's connections: an error answers 500 and keeps the connection, and a client that never
finishes its headers is disconnected."""

import http.client
import socket
import time

import pytest

pytestmark = pytest.mark.serial  # the header timer and keep-alive are measured in wall-clock seconds


def test_an_unhandled_error_answers_500_and_keeps_the_connection(server, monkeypatch):
    import httpx

    from agentctx.wiring import session_service
    from tests.conftest import ADMIN_KEY

    admin = {"X-Admin-Key": ADMIN_KEY}
    with httpx.Client(base_url=f"http://127.0.0.1:{server}") as client:
        tenant_id = client.post("/v1/admin/tenants", json={"name": "t"}, headers=admin).json()["data"]["id"]
        key = client.post(f"/v1/admin/tenants/{tenant_id}/keys", headers=admin).json()["data"]["key"]
    monkeypatch.setattr(session_service(), "list_page", lambda *args, **kwargs: 1 / 0)
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    for _ in range(2):
        connection.request("GET", "/v1/aip/sessions", headers={"X-API-Key": key})
        failed = connection.getresponse()
        assert failed.status == 500 and b"internal_error" in failed.read()
    connection.request("GET", "/health")  # the same connection, after two 500s
    assert connection.getresponse().status == 200
    connection.close()


def test_a_client_that_never_finishes_its_headers_is_disconnected(server):
    with socket.create_connection(("127.0.0.1", server), timeout=5) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no blank line: the headers never end
        began = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server
        assert time.monotonic() - began < 3


def test_a_long_response_is_not_cut_by_the_header_timer(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    connection.request("GET", "/health")
    assert connection.getresponse().read()
    time.sleep(0.8)  # past the header timer, but uvicorn's keep-alive (5 s) still holds the idle connection
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
