"""The local server's HTTP protocol: uvicorn's h11 protocol with time limits on a request's headers and its body.

uvicorn closes an idle keep-alive connection, but any byte received cancels that timer, so a client that sends
part of its headers, or its headers and part of a body, and stops holds the connection (and its memory, and the
route waiting for the body) for good. Here a request's headers must be complete within `header_timeout_seconds` of
the connection opening or of the request's first byte, and its body within `body_timeout_seconds` of its headers;
otherwise the connection is closed. The answer may then take as long as it takes (a stream), and an idle keep-alive
connection is still uvicorn's to close.
"""

import asyncio
from collections.abc import Mapping

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_VARIABLE = "AGENTCTX_HEADER_TIMEOUT_SECONDS"
BODY_TIMEOUT_VARIABLE = "AGENTCTX_BODY_TIMEOUT_SECONDS"


class RequestTimeoutH11Protocol(H11Protocol):
    header_timeout_seconds = 10.0
    body_timeout_seconds = 30.0
    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the first bytes of a request
        super().data_received(data)
        # h11 is in SEND_BODY from a request's complete headers to the end of its body
        if self.conn.their_state is h11.SEND_BODY:
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.body_timeout_seconds, self._close_if_body_incomplete)
        else:
            self._cancel_body_timer()

    def on_response_complete(self) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_seconds, self._close_if_headers_incomplete)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _close_if_headers_incomplete(self) -> None:
        self._header_timer = None
        # h11 leaves the client IDLE until a request's headers are complete; a request being answered has moved on
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def _close_if_body_incomplete(self) -> None:
        self._body_timer = None
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.transport.close()


def request_timeouts(environment: Mapping[str, str]) -> type[RequestTimeoutH11Protocol]:
    """The protocol with the time limits the environment sets (seconds, above 0), else the defaults; exits naming
    a variable whose value is not such a number."""
    limits = {}
    for variable, attribute in (
        (HEADER_TIMEOUT_VARIABLE, "header_timeout_seconds"),
        (BODY_TIMEOUT_VARIABLE, "body_timeout_seconds"),
    ):
        text = environment.get(variable)
        if text is None:
            continue
        try:
            limits[attribute] = float(text)
        except ValueError:
            limits[attribute] = 0.0
        if not limits[attribute] > 0:
            raise SystemExit(f"{variable} must be a number of seconds above 0, not {text!r}")
    return type("RequestTimeoutH11Protocol", (RequestTimeoutH11Protocol,), limits)
