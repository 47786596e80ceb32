"""A typed client for both surfaces of the agent context service: AIP sessions, blocks, fork, compaction and invoke
(`/v1/aip`), and agent-runtime sessions with their messages and event log (`/v1/sessions`).

Every POST carries an Idempotency-Key, the same one on each retry, so a retried call is applied once. Transport
failures, 429 and 502-504 are retried with backoff (429's Retry-After honoured). Lists are iterators that fetch the
next page when the current one is used up. A non-2xx answer raises an ApiError with the envelope's code and request id.
"""

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from agentctx_client.errors import ApiError, error_from
from agentctx_client.models import (
    INVOKE_EVENTS,
    Agent,
    AgentSession,
    Block,
    CompactionJob,
    Event,
    Invocation,
    InvokeEvent,
    InvokeResult,
    Message,
    Session,
    SessionSummary,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
RETRYABLE = {429, 502, 503, 504}
# The resource classes have `list` methods, which would shadow the builtin in their annotations.
Strings = list[str]
Dicts = list[dict[str, Any]]
BlockList = list[Block]
FINISHED = {"completed", "failed"}


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


class _Http:
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

    def _headers(self, method: str, headers: dict[str, str] | None) -> dict[str, str]:
        """One Idempotency-Key per call (not per attempt): the service applies a retried POST once."""
        extra = dict(headers or {})
        if method == "POST":
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
    ) -> Any:
        """The decoded JSON of a 2xx answer (None for an empty one)."""
        sent = self._headers(method, headers)
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


class Sessions:
    """AIP sessions (`/v1/aip/sessions`)."""

    def __init__(self, http: _Http) -> None:
        self._http = http

    def create(self, name: str, *, default_agent: str | None = None, tags: Strings | None = None) -> Session:
        body = {"name": name, "defaultAgent": default_agent, "tags": tags or []}
        return Session.model_validate(self._http.request("POST", "/v1/aip/sessions", json_body=body)["data"])

    def get(self, session_id: str) -> Session:
        return Session.model_validate(self._http.request("GET", f"/v1/aip/sessions/{session_id}")["data"])

    def list(self, *, tag: str | None = None, page_size: int = 100) -> Iterator[SessionSummary]:
        return self._http.pages("/v1/aip/sessions", {"tag": tag, "limit": page_size}, SessionSummary)

    def delete(self, session_id: str) -> None:
        self._http.request("DELETE", f"/v1/aip/sessions/{session_id}")

    def fork(
        self,
        session_id: str,
        name: str,
        *,
        include_by_tag: Strings | None = None,
        exclude_by_tag: Strings | None = None,
        include_pinned: bool = True,
    ) -> Session:
        body = {
            "name": name,
            "includeByTag": include_by_tag,
            "excludeByTag": exclude_by_tag,
            "includePinned": include_pinned,
        }
        body = {key: value for key, value in body.items() if value is not None}
        response = self._http.request("POST", f"/v1/aip/sessions/{session_id}/fork", json_body=body)
        return Session.model_validate(response["data"])

    def compact(
        self,
        session_id: str,
        *,
        target_tokens: int | None = None,
        preserve_pinned: bool = True,
        preserve_recent: int | None = None,
        wait: bool = True,
        timeout: float = 120,
    ) -> CompactionJob:
        """Queue a compaction. With wait (the default) return it finished, polling past the service's own wait;
        without, return the queued job at once (`Prefer: respond-async`)."""
        body = {"targetTokens": target_tokens, "preservePinned": preserve_pinned, "preserveRecent": preserve_recent}
        body = {key: value for key, value in body.items() if value is not None}
        headers = {} if wait else {"Prefer": "respond-async"}
        response = self._http.request("POST", f"/v1/aip/sessions/{session_id}/compact", json_body=body, headers=headers)
        job = CompactionJob.model_validate(response["data"])
        return self.wait_for_compaction(session_id, job.id, timeout) if wait and job.status not in FINISHED else job

    def compaction(self, session_id: str, compaction_id: str) -> CompactionJob:
        response = self._http.request("GET", f"/v1/aip/sessions/{session_id}/compactions/{compaction_id}")
        return CompactionJob.model_validate(response["data"])

    def wait_for_compaction(self, session_id: str, compaction_id: str, timeout: float = 120) -> CompactionJob:
        deadline = time.monotonic() + timeout
        while (job := self.compaction(session_id, compaction_id)).status not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"compaction {compaction_id} still {job.status} after {timeout} s")
            time.sleep(0.5)
        return job

    def compactions(self, session_id: str) -> Iterator[CompactionJob]:
        return self._http.pages(f"/v1/aip/sessions/{session_id}/compactions", {}, CompactionJob)

    def invocations(self, session_id: str) -> Iterator[Invocation]:
        return self._http.pages(f"/v1/aip/sessions/{session_id}/invocations", {}, Invocation)


class Blocks:
    """Context blocks of AIP sessions."""

    def __init__(self, http: _Http) -> None:
        self._http = http

    def add(
        self,
        session_id: str,
        type: str,
        content: Any,
        *,
        tags: Strings | None = None,
        pinned: bool = False,
        importance: float | None = None,
    ) -> Block:
        body = {"sessionId": session_id, "type": type, "content": content, "tags": tags or [], "pinned": pinned}
        if importance is not None:
            body["importance"] = importance
        return Block.model_validate(self._http.request("POST", "/v1/aip/blocks", json_body=body)["data"])

    def add_many(self, session_id: str, blocks: Dicts) -> BlockList:
        """A batch, stored all or nothing; each dict as the API takes it (`type`, `content`, `tags`, `pinned`)."""
        response = self._http.request("POST", f"/v1/aip/sessions/{session_id}/blocks", json_body={"blocks": blocks})
        return [Block.model_validate(item) for item in response["data"]]

    def get(self, block_id: str) -> Block:
        return Block.model_validate(self._http.request("GET", f"/v1/aip/blocks/{block_id}")["data"])

    def list(
        self,
        session_id: str,
        *,
        type: str | None = None,
        tag: str | None = None,
        pinned: bool | None = None,
        content: bool = True,
        include_compacted: bool = False,
        page_size: int = 200,
    ) -> Iterator[Block]:
        params = {
            "type": type,
            "tag": tag,
            "pinned": None if pinned is None else str(pinned).lower(),
            "include": "content" if content else None,
            "includeCompacted": "true" if include_compacted else None,
            "limit": page_size,
        }
        return self._http.pages(f"/v1/aip/sessions/{session_id}/blocks", params, Block)

    def delete(self, block_id: str) -> None:
        self._http.request("DELETE", f"/v1/aip/blocks/{block_id}")


class AgentSessions:
    """Agent-runtime sessions (`/v1/sessions`): messages start turns; their steps land in the event log."""

    def __init__(self, http: _Http) -> None:
        self._http = http

    def create(
        self,
        agent_id: str,
        *,
        title: str | None = None,
        tags: Strings | None = None,
        model_id: str | None = None,
        capabilities: Dicts | None = None,
    ) -> AgentSession:
        body = {
            "agent_id": agent_id,
            "title": title,
            "tags": tags or [],
            "model_id": model_id,
            "capabilities": capabilities or [],
        }
        return AgentSession.model_validate(self._http.request("POST", "/v1/sessions", json_body=body))

    def get(self, session_id: str) -> AgentSession:
        return AgentSession.model_validate(self._http.request("GET", f"/v1/sessions/{session_id}"))

    def list(self, *, tags: Strings | None = None, page_size: int = 100) -> Iterator[AgentSession]:
        return self._http.snake_pages("/v1/sessions", {"tags": tags, "limit": page_size}, AgentSession)

    def delete(self, session_id: str) -> None:
        self._http.request("DELETE", f"/v1/sessions/{session_id}")

    def cancel(self, session_id: str) -> AgentSession:
        return AgentSession.model_validate(self._http.request("POST", f"/v1/sessions/{session_id}/cancel"))

    def fork(self, session_id: str) -> AgentSession:
        return AgentSession.model_validate(self._http.request("POST", f"/v1/sessions/{session_id}/fork"))

    def send(self, session_id: str, text: str, *, metadata: dict[str, Any] | None = None) -> Message:
        """A user message; its turn runs on the service's queue (follow it with `stream`)."""
        body = {"message": {"content": [{"type": "text", "text": text}]}, "metadata": metadata}
        return Message.model_validate(self._http.request("POST", f"/v1/sessions/{session_id}/messages", json_body=body))

    def messages(self, session_id: str, *, page_size: int = 100) -> Iterator[Message]:
        return self._http.snake_pages(f"/v1/sessions/{session_id}/messages", {"limit": page_size}, Message)

    def events(self, session_id: str, *, since_id: str | None = None, page_size: int = 1000) -> Iterator[Event]:
        """The event log as it is now, in order (after `since_id`)."""
        # `limit` alone would be the newest events: a forward cursor (after sequence 0) reads from the start
        params = {"limit": page_size, "since_id": since_id, "after_sequence": None if since_id else 0}
        return self._http.snake_pages(f"/v1/sessions/{session_id}/events", params, Event, cursor_param="since_id")

    def stream(
        self,
        session_id: str,
        *,
        last_event_id: str | None = None,
        until: Callable[[Event], bool] | None = None,
    ) -> Iterator[Event]:
        """The event log followed live over SSE, from the start or after `last_event_id`. When the stream ends
        (the service closes each after a while) or breaks, it reconnects with Last-Event-ID and goes on where it
        left off, so no event is missed or repeated. Ends after an event for which `until` is true, or when the
        caller stops iterating."""
        broken = 0
        while True:
            headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
            try:
                with self._http.stream("GET", f"/v1/sessions/{session_id}/sse", headers=headers) as response:
                    for _, event_id, data in parse_sse(response.iter_lines()):
                        if event_id is None:
                            continue
                        event = Event.model_validate_json(data)
                        last_event_id, broken = event.id, 0
                        yield event
                        if until is not None and until(event):
                            return
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout):
                broken += 1
                if broken > self._http.retries:
                    raise
                time.sleep(min(0.25 * 2**broken, 5.0))


class Client:
    """Both surfaces of the service. `base_url` and `api_key` default to AGENTCTX_URL and AGENTCTX_API_KEY."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("AGENTCTX_URL", "http://127.0.0.1:3000")
        api_key = api_key or os.environ.get("AGENTCTX_API_KEY")
        if not api_key:
            raise ValueError("no API key: pass api_key or set AGENTCTX_API_KEY")
        self._http = _Http(base_url, api_key, timeout, retries, transport)
        self.sessions = Sessions(self._http)
        self.blocks = Blocks(self._http)
        self.agent_sessions = AgentSessions(self._http)

    def close(self) -> None:
        self._http.client.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def agents(self) -> Iterator[Agent]:
        return self._http.snake_pages("/v1/agents", {"limit": 100}, Agent)

    def _invoke_body(
        self,
        agent: str,
        prompt: str,
        session: str | None,
        include_by_tag: list[str] | None,
        max_tokens: int | None,
        enrichment: str | None,
        stream: bool,
    ) -> dict[str, Any]:
        context = {"includeByTag": include_by_tag, "maxTokens": max_tokens}
        body = {
            "agent": agent,
            "prompt": prompt,
            "session": session,
            "context": {key: value for key, value in context.items() if value is not None},
            "enrichment": enrichment,
            "stream": stream,
        }
        return {key: value for key, value in body.items() if value is not None}

    def invoke(
        self,
        agent: str,
        prompt: str,
        *,
        session: str | None = None,
        include_by_tag: list[str] | None = None,
        max_tokens: int | None = None,
        enrichment: str | None = None,
    ) -> InvokeResult:
        body = self._invoke_body(agent, prompt, session, include_by_tag, max_tokens, enrichment, stream=False)
        return InvokeResult.model_validate(self._http.request("POST", "/v1/aip/invoke", json_body=body)["data"])

    def invoke_stream(
        self,
        agent: str,
        prompt: str,
        *,
        session: str | None = None,
        include_by_tag: list[str] | None = None,
        max_tokens: int | None = None,
        enrichment: str | None = None,
    ) -> Iterator[InvokeEvent]:
        """The invocation's events as they arrive: TextDelta pieces of the answer, then InvokeCompleted (or
        InvokeFailed); other steps (start, context_assembled, tool_call, ...) as plain InvokeEvents."""
        body = self._invoke_body(agent, prompt, session, include_by_tag, max_tokens, enrichment, stream=True)
        with self._http.stream("POST", "/v1/aip/invoke", json_body=body) as response:
            for name, _, data in parse_sse(response.iter_lines()):
                payload = json.loads(data)
                yield INVOKE_EVENTS.get(name, InvokeEvent)(event=name, data=payload)
