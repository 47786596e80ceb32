"""`web_fetch`: GET a public http(s) URL, refusing loopback, link-local, private and other non-public addresses.

The host is resolved once, every address it resolves to is checked, and the connection goes to the checked
address (so a DNS answer that changes between check and connect cannot redirect it). Redirects are followed by
hand, each checked the same way.
"""

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from agentctx.capabilities.base import Capability, CapabilityConfig, ToolResult, ToolScope, ToolSpec

MAX_REDIRECTS = 3


class FetchRefused(Exception):
    pass


class WebFetchConfig(CapabilityConfig):
    timeout_ms: int = Field(default=10_000, ge=100, le=60_000)
    max_bytes: int = Field(default=100_000, ge=1_000, le=2_000_000)


_IPV4_NON_GLOBAL = tuple(
    ipaddress.IPv4Network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV6_NON_GLOBAL = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(address: str) -> bool:
    """Whether `address`, as connect() would get it, is a public internet destination.

    ipaddress's is_global is only a second opinion: on Python 3.11 it calls multicast, site-local, 192.0.0.8,
    3fff::/20, 6to4 and NAT64 addresses global, and its tables change between patch releases, so the special
    ranges are listed here. An IPv6 address that carries an IPv4 one is judged as that IPv4 (mapped, NAT64
    well-known prefix, 6to4). Other IPv6 outside 2000::/3 (IPv4-compatible and -translated, local-use NAT64,
    ULA, link- and site-local, multicast, unspecified, discard) and all of 2001::/23 (Teredo included) are
    not globally reachable, so they are refused whatever they embed. Text that does not parse, or that has a
    scope id, is refused.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public_ipv4(ip)
    if ip.scope_id is not None:
        return False
    if ip.ipv4_mapped is not None:
        return _is_public_ipv4(ip.ipv4_mapped)
    if ip in _NAT64_WELL_KNOWN:
        return _is_public_ipv4(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    if ip.sixtofour is not None:  # newer ipaddress calls all of 2002::/16 non-global; it is as public as its IPv4
        return _is_public_ipv4(ip.sixtofour)
    return ip in _IPV6_GLOBAL_UNICAST and not any(ip in network for network in _IPV6_NON_GLOBAL) and ip.is_global


def _is_public_ipv4(ip: ipaddress.IPv4Address) -> bool:
    return not any(ip in network for network in _IPV4_NON_GLOBAL) and ip.is_global


def resolve(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


class WebFetch(Capability):
    ref = "web_fetch"
    name = "Web fetch"
    description = "Fetches a public web page or API response over http(s)."
    category = "web"
    features = ["web"]
    config_model = WebFetchConfig

    def __init__(self, address_allowed: Callable[[str], bool] = is_public_address) -> None:
        self.address_allowed = address_allowed

    def tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="web_fetch",
                description="GET a public http(s) URL and return its status, content type and text.",
                input_schema={
                    "type": "object",
                    "properties": {"url": {"type": "string", "description": "An http or https URL"}},
                    "required": ["url"],
                    "additionalProperties": False,
                },
            )
        ]

    def run(
        self, tool: str, tool_input: dict[str, Any], config: dict[str, Any], scope: ToolScope | None = None
    ) -> ToolResult:
        settings = WebFetchConfig.model_validate(config)
        url = tool_input.get("url")
        if not isinstance(url, str):
            return ToolResult({"error": "web_fetch needs a url"}, is_error=True)
        try:
            return ToolResult(self.fetch(url, settings.timeout_ms / 1000, settings.max_bytes))
        except FetchRefused as refused:
            return ToolResult({"error": str(refused)}, is_error=True)
        except (OSError, http.client.HTTPException) as failure:
            return ToolResult({"error": f"fetch failed: {failure.__class__.__name__}: {failure}"}, is_error=True)

    def fetch(self, url: str, timeout: float, max_bytes: int) -> dict[str, Any]:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchRefused(f"refused {url!r}: only http and https URLs with a host")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            addresses = resolve(parts.hostname, port)
            refused = [address for address in addresses if not self.address_allowed(address)]
            if not addresses or refused:
                raise FetchRefused(f"refused {parts.hostname}: resolves to a non-public address {refused[:1]}")
            connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
            connection = connection_class(parts.hostname, addresses[0], port, timeout)
            try:
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                connection.request("GET", path, headers={"User-Agent": "agentctx-web-fetch/1", "Accept": "*/*"})
                response = connection.getresponse()
                if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                    url = urljoin(url, response.getheader("Location") or "")
                    continue
                body = response.read(max_bytes + 1)
            finally:
                connection.close()
            return {
                "url": url,
                "status": response.status,
                "contentType": response.getheader("Content-Type", ""),
                "truncated": len(body) > max_bytes,
                "body": body[:max_bytes].decode("utf-8", errors="replace"),
            }
        raise FetchRefused(f"refused {url!r}: more than {MAX_REDIRECTS} redirects")
