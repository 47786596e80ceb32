"""web_fetch refuses loopback, link-local, private and other non-public targets, and fetches public ones."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agentctx.capabilities.web_fetch import WebFetch, is_public_address


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/x",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "file:///etc/passwd",
        "ftp://example.com/",
        "http:///nohost",
    ],
)
def test_refuses_non_public_targets(url):
    result = WebFetch().run("web_fetch", {"url": url}, {"timeout_ms": 500})

    assert result.is_error and "refused" in result.output["error"]


def test_public_addresses_are_allowed():
    assert is_public_address("93.184.216.34") and is_public_address("2606:2800:220:1:248:1893:25c8:1946")
    assert not is_public_address("100.64.0.1")  # carrier-grade NAT


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/redirect-private":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/")
            self.end_headers()
            return
        body = b"hello from the page " * 10
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def loopback_only(address: str) -> bool:
    """The test site lives on loopback; allow exactly that, as the real policy allows public hosts."""
    return address == "127.0.0.1"


def test_fetches_with_truncation_to_max_bytes(site):
    result = WebFetch(address_allowed=loopback_only).run("web_fetch", {"url": site + "/page"}, {"max_bytes": 1000})

    assert not result.is_error
    assert result.output["status"] == 200 and result.output["body"].startswith("hello from the page")
    assert result.output["truncated"] is False


def test_redirect_to_a_private_address_is_refused(site):
    result = WebFetch(address_allowed=loopback_only).run("web_fetch", {"url": site + "/redirect-private"}, {})

    assert result.is_error and "non-public" in result.output["error"]


def test_config_is_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        WebFetch().validate_config({"timeout_ms": 5})
    assert WebFetch().validate_config({}) == {"timeout_ms": 10_000, "max_bytes": 100_000}
