"""The HTTP side of the client: retries with backoff, one Idempotency-Key per call, pages, and Server-Sent Events.

Every POST that writes carries an Idempotency-Key, the same one on each retry, so a retried call is applied once.
Transport failures, 429 and 502-504 are retried with backoff (429's Retry-After honoured). A non-2xx answer raises an
ApiError with the envelope's code and request id.
"""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from agentctx_client.errors import ApiError, error_from

ModelT = TypeVar("ModelT", bound=BaseModel)
RETRYABLE = {429, 502, 503, 504}


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, str | None, str]]:
    """Server-Sent Events from a response's lines: (event name, id, data) per event; comments are skipped."""
    name, event_id, data = "message", None, list[str]()
    for line in lines:
        if not line:
            if data:
                yield name, event_id, "\n".join(data)
            name, event_id, data = "message", None, []
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


class Http:
    def __init__(
        self, base_url: str, api_key: str, timeout: float, retries: int, transport: httpx.BaseTransport | None
    ) -> None:
        self.retries = retries
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "agentctx-client/0.1"},
            timeout=timeout,
            transport=transport,
        )

    def _pause(self, attempt: int, response: httpx.Response | None = None) -> None:
        retry_after = response.headers.get("Retry-After") if response is not None else None
        time.sleep(float(retry_after) if retry_after and retry_after.isdigit() else min(0.25 * 2**attempt, 5.0))

    def _headers(self, method: str, headers: dict[str, str] | None, keyed: bool = True) -> dict[str, str]:
        """One Idempotency-Key per call (not per attempt): the service applies a retried POST once."""
        extra = dict(headers or {})
        if method == "POST" and keyed:
            extra.setdefault("Idempotency-Key", uuid.uuid4().hex)
        return extra

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        keyed: bool = True,
    ) -> Any:
        """The decoded JSON of a 2xx answer (None for an empty one). `keyed=False`: a POST that writes nothing goes
        without an Idempotency-Key, so the service does not keep its answer (which may exceed what it can keep)."""
        sent = self._headers(method, headers, keyed)
        query = {name: value for name, value in (params or {}).items() if value is not None}
        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, path, params=query, json=json_body, headers=sent)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                self._pause(attempt)
                continue
            if response.status_code in RETRYABLE and attempt < self.retries:
                self._pause(attempt, response)
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response.json() if response.content else None  # a 204 has no body
        raise AssertionError("unreachable")

    @contextmanager
    def stream(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """A streamed 2xx answer; connecting is retried like `request`, a broken stream is the caller's to resume."""
        sent = self._headers(method, headers)
        timeout = httpx.Timeout(self.client.timeout.connect, read=120.0)
        for attempt in range(self.retries + 1):
            try:
                with self.client.stream(method, path, json=json_body, headers=sent, timeout=timeout) as response:
                    if response.status_code in RETRYABLE and attempt < self.retries:
                        response.read()
                        self._pause(attempt, response)
                        continue
                    if response.status_code >= 400:
                        response.read()
                        raise _error(response)
                    yield response
                    return
            except httpx.ConnectError:
                if attempt == self.retries:
                    raise
                self._pause(attempt)

    def pages(self, path: str, params: dict[str, Any], model: type[ModelT]) -> Iterator[ModelT]:
        """AIP lists: `{"data", "meta": {"hasMore", "nextCursor"}}`."""
        cursor = None
        while True:
            body = self.request("GET", path, params={**params, "cursor": cursor})
            yield from (model.model_validate(item) for item in body["data"])
            cursor = body["meta"].get("nextCursor")
            if not body["meta"].get("hasMore") or not cursor:
                return

    def snake_pages(
        self, path: str, params: dict[str, Any], model: type[ModelT], cursor_param: str = "cursor"
    ) -> Iterator[ModelT]:
        """/v1 lists: `{"data", "has_more", "next_cursor"}` (for the event log, next_cursor is the next since_id)."""
        cursor = params.pop(cursor_param, None)
        while True:
            body = self.request("GET", path, params={**params, cursor_param: cursor})
            yield from (model.model_validate(item) for item in body["data"])
            cursor = body.get("next_cursor")
            if not body.get("has_more") or not cursor:
                return


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return error_from(response.status_code, body, response.headers.get("X-Request-Id"))
