"""Agent-runtime sessions (`/v1/sessions`): messages that start turns, and the event log, read or followed live."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from agentctx_client.models import AgentSession, Dicts, Event, Message, Strings
from agentctx_client.transport import Http, parse_sse


class AgentSessions:
    """Agent-runtime sessions (`/v1/sessions`): messages start turns; their steps land in the event log."""

    def __init__(self, http: Http) -> None:
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
