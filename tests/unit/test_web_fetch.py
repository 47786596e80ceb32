"""web_fetch refuses loopback, link-local, private and other non-public targets, and fetches public ones."""

import socket
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


PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "9.9.9.9",
    "93.184.216.34",
    "11.0.0.1",
    "100.63.255.255",  # just below carrier-grade NAT
    "100.128.0.0",  # just above it
    "172.15.255.255",
    "172.32.0.0",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:82a::200e",
    "2606:2800:220:1:248:1893:25c8:1946",
    "2001:200::1",  # just past 2001::/23
    "::ffff:8.8.8.8",  # mapped: a dual-stack socket connects to the IPv4
    "::ffff:1.1.1.1",
    "64:ff9b::808:808",  # NAT64 well-known prefix to 8.8.8.8
    "64:ff9b::1.1.1.1",
    "2002:0808:0808::",  # 6to4 of 8.8.8.8
    "2002:101:101::1",
]

NOT_PUBLIC = [
    # IPv4
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.1",
    "192.0.0.8",  # is_global on Python 3.11
    "192.0.0.170",
    "192.0.2.1",  # documentation
    "192.88.99.1",  # 6to4 relay anycast
    "192.168.0.1",
    "198.18.0.1",  # benchmarking
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",  # multicast, is_global on Python 3.11
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    # IPv6
    "::",
    "::1",
    "::2",
    "100::1",  # discard
    "100::ffff:ffff:ffff:ffff",
    "fc00::1",  # unique local
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",  # site-local, is_global on Python 3.11
    "ff02::1",  # multicast, is_global on Python 3.11
    "ff0e::1",
    "4000::1",  # outside 2000::/3, unallocated
    "2001:2::1",  # benchmarking
    "2001:10::1",  # ORCHID
    "2001:20::1",  # ORCHIDv2
    "2001:db8::1",
    "2001:db8:ffff::1",
    "3fff::1",  # documentation, is_global on Python 3.11
    # IPv6 carrying a non-public IPv4
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "::169.254.169.254",
    "::8.8.8.8",  # IPv4-compatible is deprecated, refused whatever it carries
    "::ffff:0:7f00:1",  # IPv4-translated
    "::ffff:0:808:808",
    "64:ff9b::7f00:1",  # NAT64 well-known prefix
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::a00:1",
    "64:ff9b::c0a8:101",
    "64:ff9b::6440:1",
    "64:ff9b:1::7f00:1",  # NAT64 local-use prefix, not global whatever it carries
    "64:ff9b:1::808:808",
    "2002:7f00:1::",  # 6to4
    "2002:a9fe:a9fe::1",
    "2002:a00:1::",
    "2002:c0a8:101::",
    "2002:6440:1::",
    "2002:c058:6301::",
    "2002:e000:1::",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (obfuscated)
    "2001:0:7f00:1:8000:63bf:f7f7:f7f7",  # Teredo, server 127.0.0.1, client 8.8.8.8
    "2001:0:808:808:8000:63bf:f7f7:f7f7",  # Teredo between public IPv4s: 2001::/32 itself is not global
    # scope ids and text connect() would never be given
    "fe80::1%eth0",
    "fe80::1%1",
    "2606:4700:4700::1111%eth0",
    "",
    "localhost",
    "127.1",
    "0x7f.0.0.1",
    "010.0.0.1",
    "2130706433",
    " 8.8.8.8",
    "8.8.8.8\n",
    "[::1]",
    "::1%",
    "1.2.3.4.5",
    "2001:db8::g",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert is_public_address(address) is True


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address):
    assert is_public_address(address) is False


def test_the_tables_are_large_and_disjoint():
    assert len(PUBLIC) + len(NOT_PUBLIC) >= 60 and not set(PUBLIC) & set(NOT_PUBLIC)


@pytest.fixture
def loopback_listener():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    yield listener
    listener.close()


@pytest.fixture
def connects(monkeypatch):
    """Every address web_fetch hands to connect(), while still connecting for real."""
    seen: list[tuple[str, int]] = []
    real = socket.create_connection

    def recording(address, *args, **kwargs):
        seen.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return seen


@pytest.mark.parametrize("host", ["[::127.0.0.1]", "[::ffff:0:7f00:1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]"])
def test_an_ipv6_url_carrying_loopback_never_reaches_connect(host, loopback_listener, connects):
    port = loopback_listener.getsockname()[1]

    result = WebFetch().run("web_fetch", {"url": f"http://{host}:{port}/"}, {"timeout_ms": 500})

    assert result.is_error and "non-public" in result.output["error"]
    assert connects == []
    with pytest.raises(BlockingIOError):
        loopback_listener.accept()


def test_a_scoped_link_local_url_is_refused_without_connecting(connects):
    result = WebFetch().run("web_fetch", {"url": "http://[fe80::1%25eth0]/"}, {"timeout_ms": 500})

    assert result.is_error and connects == []


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
