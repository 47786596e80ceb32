"""`GET /v1/sessions/{session_id}/sse`: a session's event log as Server-Sent Events, served by the streaming
function. Each event is `event:` its type, `id:` its event id, `data:` its envelope; a comment line is sent as a
heartbeat when the log is quiet. As Everruns' streams do, it opens with a `connected` event and, before the server
ends it after SSE_MAX_SECONDS (under the function's timeout), sends `disconnecting {reason, retry_ms}`; neither has
an `id:`, so the client reconnects with `Last-Event-ID` (or `since_id`) of the last real event and misses nothing."""

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from agentctx import ids
from agentctx.api.channels import channel_session
from agentctx.api.deps import Tenant
from agentctx.api.openapi import ERROR_RESPONSES, SSE_EVENT_SCHEMA
from agentctx.api.streaming import in_background
from agentctx.errors import NotFound
from agentctx.settings import get_settings
from agentctx.wiring import event_query_service

if TYPE_CHECKING:
    from agentctx.services.event_query import EventFilter

router = APIRouter(responses=ERROR_RESPONSES)

RECONNECT_MS = 100  # what `disconnecting` tells the client to wait: the stream ended on purpose


def _frames(events: Iterator[dict[str, Any] | None], retry_ms: int, keep: "EventFilter") -> Iterator[str]:
    yield f"retry: {retry_ms}\n\n"
    yield 'event: connected\ndata: {"status": "connected"}\n\n'
    for event in events:
        if event is None:
            yield ": heartbeat\n\n"
        elif keep.empty or keep.keep(event):
            yield f"event: {event['type']}\nid: {event['id']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
    closing = json.dumps({"reason": "connection_cycle", "retry_ms": RECONNECT_MS})
    yield f"event: disconnecting\ndata: {closing}\n\n"


@router.get(
    "/v1/sessions/{session_id}/sse",
    tags=["agent sessions"],
    responses={
        200: {"description": "Server-Sent Events", "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}}
    },
)
def stream_events(
    session_id: str,
    tenant: Tenant,
    since_id: Annotated[str | None, Query(max_length=64)] = None,
    after_sequence: Annotated[int | None, Query(ge=0, description="Replay from after this sequence")] = None,
    types: Annotated[list[str], Query(max_length=25, description="Only these event types")] = [],  # noqa: B006
    exclude: Annotated[list[str], Query(max_length=25, description="Not these event types")] = [],  # noqa: B006
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """Resumes after `Last-Event-ID`, else `since_id`, else `after_sequence`; `types` and `exclude` filter."""
    # here, not at import: the function's other routes (invocations) never load the runtime service
    from agentctx.services.event_query import EventFilter

    settings = get_settings()
    keep = EventFilter(types, exclude)
    since = last_event_id or since_id
    if not since and after_sequence:
        session_hex = ids.parse_session_id(session_id)
        if session_hex is None:
            raise NotFound(f"session {session_id} not found")
        since = ids.event_id(session_hex, after_sequence)
    events = event_query_service().follow(
        tenant,
        session_id,
        since,
        settings.sse_heartbeat_seconds,
        settings.sse_max_seconds,
        settings.sse_poll_seconds,
    )
    return StreamingResponse(
        in_background(_frames(events, retry_ms=1000, keep=keep)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/v1/channels/{agent}/sessions/{session_id}/sse",
    tags=["agent channel"],
    responses={
        200: {"description": "Server-Sent Events", "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}}
    },
)
def channel_stream_events(
    agent: str,
    session_id: str,
    tenant: Tenant,
    since_id: Annotated[str | None, Query(max_length=64)] = None,
    after_sequence: Annotated[int | None, Query(ge=0, description="Replay from after this sequence")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """The session's stream on the agent's channel (AgentClient.stream_events); 404 for another agent's session."""
    channel_session(tenant, agent, session_id)
    return stream_events(session_id, tenant, since_id, after_sequence, [], [], last_event_id)
