"""The local server's connections: an error answers 500 and keeps the connection, and a client that never
finishes its headers, or its body, is disconnected."""

import http.client
import socket
import time

import pytest

from infra.local_http import request_timeouts

pytestmark = pytest.mark.serial  # the header and body timers and keep-alive are measured in wall-clock seconds


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


def test_a_client_that_never_finishes_its_body_is_disconnected(server):
    with socket.create_connection(("127.0.0.1", server), timeout=5) as slow:
        slow.sendall(b'POST /v1/aip/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"na')
        began = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server
        assert time.monotonic() - began < 3


def test_a_response_longer_than_the_body_timer_is_not_cut(server, api, monkeypatch):
    from agentctx.wiring import session_service

    service = session_service()
    create = service.create
    monkeypatch.setattr(service, "create", lambda *args, **kwargs: time.sleep(0.8) or create(*args, **kwargs))
    json_headers = {**api.headers, "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    connection.request("POST", "/v1/aip/sessions", body=b'{"name": "slow"}', headers=json_headers)
    assert connection.getresponse().status == 201
    connection.close()


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(value):
    with pytest.raises(SystemExit, match=f"AGENTCTX_BODY_TIMEOUT_SECONDS must be .*{value}"):
        request_timeouts({"AGENTCTX_BODY_TIMEOUT_SECONDS": value})
