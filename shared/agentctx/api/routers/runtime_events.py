"""An agent-runtime session's event log as JSON pages: `GET /v1/sessions/{session_id}/events` (Everruns' event
query). Its live stream (`.../sse`) is served by the streaming function (routers/runtime_stream.py)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from agentctx.api.deps import Tenant
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.errors import InvalidRequest
from agentctx.schemas.catalog import SnakeList
from agentctx.schemas.runtime import EventOut
from agentctx.services.event_query import EventFilter
from agentctx.wiring import event_query_service

router = APIRouter(tags=["agent sessions"], responses=ERROR_RESPONSES)

SinceId = Annotated[str | None, Query(max_length=64, description="Only events after this event id")]
EventTypes = Annotated[list[str], Query(max_length=25)]
# Filters of Everruns' event query that we do not implement: refused rather than silently ignored.
UNSUPPORTED_EVENT_FILTERS = frozenset(
    {"around", "window", "from_ts", "to_ts", "exec_id", "trace_id", "tags", "tool_name", "q"}
)


@router.get("/v1/sessions/{session_id}/events", response_model=SnakeList[EventOut])
def list_events(
    request: Request,
    session_id: str,
    tenant: Tenant,
    since_id: SinceId = None,
    after_sequence: Annotated[int | None, Query(ge=0, description="Only events after this sequence")] = None,
    before_sequence: Annotated[int | None, Query(ge=1, description="Only events before this sequence")] = None,
    types: EventTypes = [],  # noqa: B006
    exclude: EventTypes = [],  # noqa: B006
    turn_id: Annotated[str | None, Query(max_length=64)] = None,
    order_desc: bool = False,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> SnakeList[EventOut]:
    """The event log (Everruns' query): `limit` alone is the newest N (oldest first); after a forward cursor
    (`since_id`, `after_sequence`) it is the first N after it; no limit is every event in range up to 1,000. A page
    ends early rather than pass its byte budget (`truncated_by_bytes`). An oldest-first page with more after it has
    `has_more` and `next_cursor`, the since_id of the next page; a newest-first answer pages back with
    `before_sequence` = its oldest event's sequence instead. `types` narrows, `exclude` removes,
    `turn_id` keeps one turn's, `order_desc` puts the newest first. Everruns' other filters are refused (400)
    rather than ignored."""
    unsupported = sorted(UNSUPPORTED_EVENT_FILTERS.intersection(request.query_params))
    if unsupported:
        raise InvalidRequest(f"{unsupported[0]}: this event filter is not supported here")
    page = event_query_service().page(
        tenant,
        session_id,
        since_id,
        after_sequence,
        before_sequence,
        limit,
        order_desc,
        EventFilter(types, exclude, turn_id),
    )
    return SnakeList(
        data=[EventOut.model_validate(e) for e in page.events],
        has_more=page.next_since_id is not None,
        next_cursor=page.next_since_id,
        truncated_by_bytes=page.truncated_by_bytes,
        limit=limit,
    )
