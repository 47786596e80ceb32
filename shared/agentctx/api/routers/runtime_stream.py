"""`GET /v1/sessions/{session_id}/sse`: a session's event log as Server-Sent Events, served by the streaming
function. Each event is `event:` its type, `id:` its event id, `data:` its envelope; a comment line is sent as a
heartbeat when the log is quiet. As Everruns' streams do, it opens with a `connected` event and, before the server
ends it after SSE_MAX_SECONDS (under the function's timeout), sends `disconnecting {reason, retry_ms}`; neither has
an `id:`, so the client reconnects with `Last-Event-ID` (or `since_id`) of the last real event and misses nothing.
The stream re-checks its API key once per key-cache window (API_KEY_CACHE_SECONDS): a revoked key's streams end
within it, with `disconnecting` whose reason is `unauthorized` (and reconnecting is then a 401)."""

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from agentctx import ids
from agentctx.api.channels import channel_session
from agentctx.api.deps import Tenant
from agentctx.api.openapi import ERROR_RESPONSES, SSE_EVENT_SCHEMA
from agentctx.api.streaming import HEARTBEAT, followed
from agentctx.errors import NotFound, Unauthorized
from agentctx.services.tenants import api_key_from
from agentctx.settings import get_settings
from agentctx.wiring import event_query_service, tenant_service

if TYPE_CHECKING:
    from agentctx.services.event_query import EventFilter, EventFollower

router = APIRouter(responses=ERROR_RESPONSES)

RECONNECT_MS = 100  # what `disconnecting` tells the client to wait: the stream ended on purpose


async def _frames(follower: "EventFollower", key: str | None, retry_ms: int, keep: "EventFilter") -> AsyncIterator[str]:
    settings = get_settings()
    yield f"retry: {retry_ms}\n\n"
    yield 'event: connected\ndata: {"status": "connected"}\n\n'
    reason = "connection_cycle"
    try:
        async for events in followed(
            follower.read,
            lambda: tenant_service().authenticate(key, fresh=True),
            settings.sse_poll_seconds,
            settings.sse_heartbeat_seconds,
            settings.sse_max_seconds,
            max(settings.api_key_cache_seconds, settings.sse_poll_seconds),
        ):
            if events is None:
                yield HEARTBEAT
            for event in events or []:
                if keep.empty or keep.keep(event):
                    data = json.dumps(event, ensure_ascii=False)
                    yield f"event: {event['type']}\nid: {event['id']}\ndata: {data}\n\n"
    except Unauthorized:
        reason = "unauthorized"
    closing = json.dumps({"reason": reason, "retry_ms": RECONNECT_MS})
    yield f"event: disconnecting\ndata: {closing}\n\n"


@router.get(
    "/v1/sessions/{session_id}/sse",
    tags=["agent sessions"],
    responses={
        200: {"description": "Server-Sent Events", "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}}
    },
)
def stream_events(
    request: Request,
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

    keep = EventFilter(types, exclude)
    since = last_event_id or since_id
    if not since and after_sequence:
        session_hex = ids.parse_session_id(session_id)
        if session_hex is None:
            raise NotFound(f"session {session_id} not found")
        since = ids.event_id(session_hex, after_sequence)
    follower = event_query_service().follow(tenant, session_id, since)
    key = api_key_from(request.headers.get("X-API-Key"), request.headers.get("Authorization"))
    return StreamingResponse(
        _frames(follower, key, retry_ms=1000, keep=keep),
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
    request: Request,
    agent: str,
    session_id: str,
    tenant: Tenant,
    since_id: Annotated[str | None, Query(max_length=64)] = None,
    after_sequence: Annotated[int | None, Query(ge=0, description="Replay from after this sequence")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """The session's stream on the agent's channel (AgentClient.stream_events); 404 for another agent's session."""
    channel_session(tenant, agent, session_id)
    return stream_events(request, session_id, tenant, since_id, after_sequence, [], [], last_event_id)
