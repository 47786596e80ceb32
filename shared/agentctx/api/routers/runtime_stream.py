"""`GET /v1/sessions/{session_id}/sse`: a session's event log as Server-Sent Events, served by the streaming
function. Each event is `event:` its type, `id:` its event id, `data:` its envelope; a comment line is sent as a
heartbeat when the log is quiet. A stream lasts SSE_MAX_SECONDS (under the function's timeout); the client
reconnects with `Last-Event-ID` (or `since_id`) and misses nothing."""

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from agentctx.api.app import ERROR_RESPONSES
from agentctx.api.deps import Tenant
from agentctx.settings import get_settings
from agentctx.wiring import runtime_service

router = APIRouter(responses=ERROR_RESPONSES)


def _frames(events: Iterator[dict[str, Any] | None], retry_ms: int) -> Iterator[str]:
    yield f"retry: {retry_ms}\n\n"
    for event in events:
        if event is None:
            yield ": heartbeat\n\n"
        else:
            yield f"event: {event['type']}\nid: {event['id']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


@router.get(
    "/v1/sessions/{session_id}/sse",
    tags=["agent sessions"],
    responses={
        200: {"description": "Server-Sent Events", "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    },
)
def stream_events(
    session_id: str,
    tenant: Tenant,
    since_id: Annotated[str | None, Query(max_length=64)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    settings = get_settings()
    events = runtime_service().follow(
        tenant,
        session_id,
        last_event_id or since_id,
        settings.sse_heartbeat_seconds,
        settings.sse_max_seconds,
        settings.sse_poll_seconds,
    )
    return StreamingResponse(
        _frames(events, retry_ms=1000),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
