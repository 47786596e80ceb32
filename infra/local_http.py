"""The local server's HTTP protocol: uvicorn's h11 protocol with a time limit on a request's headers.

uvicorn closes an idle keep-alive connection, but any byte received cancels that timer, so a client that sends
part of its headers and stops holds the connection (and its memory) for good. Here a request's headers must be
complete within `header_timeout_seconds` of the connection opening or of the request's first byte; otherwise the
connection is closed. An idle keep-alive connection is still uvicorn's to close.
"""

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutH11Protocol(H11Protocol):
    header_timeout_seconds = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the first bytes of a request
        super().data_received(data)

    def on_response_complete(self) -> None:
        self._cancel_header_timer()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_seconds, self._close_if_headers_incomplete)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _close_if_headers_incomplete(self) -> None:
        self._header_timer = None
        # h11 leaves the client IDLE until a request's headers are complete; a request being answered has moved on
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
