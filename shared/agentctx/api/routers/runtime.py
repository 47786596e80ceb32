"""The agent-runtime surface (seeds 002 and 003): `/v1/sessions` with their messages and event log, and the
`/v1/capabilities` catalogue. Objects come back bare and in snake_case, lists as `{"data", "has_more",
"next_cursor"}` (with Everruns' `total`, `offset`, `limit`, `next_page_token`), errors in the service's one error
envelope. The event stream (`.../sse`) is served by the streaming function (routers/runtime_stream.py). What the
Everruns SDK calls is listed in docs/agent-sessions.md."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, StringConstraints

from agentctx import ids
from agentctx.api.channels import channel_agent, channel_session
from agentctx.api.deps import Tenant
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.capabilities import CATALOGUE
from agentctx.errors import InvalidRequest, NotFound
from agentctx.schemas import Tag
from agentctx.schemas.catalog import CapabilityRefOut, SnakeList, SnakeRequestModel
from agentctx.schemas.runtime import (
    CancelOut,
    CapabilityOut,
    EventOut,
    ForkRequest,
    MessageCreate,
    MessageOut,
    RuntimeSessionCreate,
    RuntimeSessionOut,
    RuntimeSessionUpdate,
    SessionUsage,
    ToolDefinitionOut,
)
from agentctx.services.catalog import HARNESS_ID
from agentctx.services.event_query import EventFilter
from agentctx.services.runtime import RuntimeView
from agentctx.wiring import catalog_service, event_query_service, quota_guard, runtime_service

router = APIRouter(responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
PageToken = Annotated[str | None, Query(max_length=2048, description="Everruns' name for cursor")]
SinceId = Annotated[str | None, Query(max_length=64, description="Only events after this event id")]
EventTypes = Annotated[list[str], Query(max_length=25)]
# Filters of Everruns' event query that we do not implement: refused rather than silently ignored.
UNSUPPORTED_EVENT_FILTERS = frozenset(
    {"around", "window", "from_ts", "to_ts", "exec_id", "trace_id", "tags", "tool_name", "q"}
)


def session_out(view: RuntimeView) -> RuntimeSessionOut:
    session, turns = view.session, view.session.turns
    used = turns.input_tokens + turns.output_tokens
    return RuntimeSessionOut(
        id=f"session_{session.hex}",
        organization_id=session.tenant_id,
        agent_id=view.agent_id,
        title=session.name or None,
        tags=session.tags,
        model_id=session.runtime.model_id if session.runtime else None,
        capabilities=[CapabilityRefOut(ref=cap.ref, config=cap.config) for cap in view.capabilities],
        status=turns.status,
        features=view.features,
        preview=turns.preview,
        output_preview=turns.output_preview,
        usage=SessionUsage(input_tokens=turns.input_tokens, output_tokens=turns.output_tokens, total_tokens=used)
        if turns.done
        else None,
        created_at=session.created_at,
        updated_at=session.updated_at,
        started_at=turns.started_at,
        finished_at=turns.finished_at,
        harness_id=HARNESS_ID,
        locale=session.runtime.locale if session.runtime else None,
        forked_from_session_id=session.runtime.forked_from if session.runtime else None,
    )


@router.post("/v1/sessions", status_code=201, response_model=RuntimeSessionOut, tags=["agent sessions"])
def create_session(body: RuntimeSessionCreate, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().create(tenant, body))


@router.get("/v1/sessions", response_model=SnakeList[RuntimeSessionOut], tags=["agent sessions"])
def list_sessions(
    tenant: Tenant,
    tags: Annotated[list[Tag], Query(max_length=20, description="Only sessions with every one of these tags")] = [],  # noqa: B006
    agent_id: Annotated[str | None, Query(max_length=128, description="Only this agent's sessions")] = None,
    search: Annotated[str | None, Query(max_length=256, description="Title contains (case-insensitive)")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    page_token: PageToken = None,
) -> SnakeList[RuntimeSessionOut]:
    agent = None
    if agent_id is not None:
        agent_hex = ids.parse_prefixed_hex(agent_id, ids.AGENT_PREFIX)
        if agent_hex is None:
            raise InvalidRequest(f"agent_id {agent_id!r} is not an agent id (agent_ followed by 32 hex)")
        agent = ids.AGENT_PREFIX + agent_hex
    views, next_cursor = runtime_service().list_page(tenant, tags, limit, cursor or page_token, agent, search)
    return SnakeList(
        data=[session_out(v) for v in views], has_more=next_cursor is not None, next_cursor=next_cursor, limit=limit
    )


@router.get("/v1/sessions/{session_id}", response_model=RuntimeSessionOut, tags=["agent sessions"])
def get_session(session_id: str, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().get(tenant, session_id))


@router.patch("/v1/sessions/{session_id}", response_model=RuntimeSessionOut, tags=["agent sessions"])
def update_session(session_id: str, body: RuntimeSessionUpdate, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().update(tenant, session_id, body))


@router.delete("/v1/sessions/{session_id}", status_code=204, response_class=Response, tags=["agent sessions"])
def delete_session(session_id: str, tenant: Tenant) -> Response:
    """Deleted with its blocks, messages, events and files; 204, as Everruns answers."""
    runtime_service().delete(tenant, session_id)
    return Response(status_code=204)


@router.post("/v1/sessions/{session_id}/cancel", response_model=CancelOut, tags=["agent sessions"])
def cancel_session(session_id: str, tenant: Tenant) -> CancelOut:
    """Cancel the running turn and those queued behind it (Everruns' CancelTurnResponse); `no_op` when idle."""
    view = runtime_service().cancel(tenant, session_id)
    if view.session.busy:
        return CancelOut(status="cancelled", message="Turn cancelled successfully")
    return CancelOut(status="no_op", message="No turn was running")


@router.post(
    "/v1/sessions/{session_id}/fork", status_code=201, response_model=RuntimeSessionOut, tags=["agent sessions"]
)
def fork_session(
    session_id: str, tenant: Tenant, body: Annotated[ForkRequest | None, Body()] = None
) -> RuntimeSessionOut:
    """A copy of the session; `title` and `tags` replace the parent's when given."""
    request = body or ForkRequest()
    quota_guard().check_storage(tenant)
    return session_out(runtime_service().fork(tenant, session_id, request.title, request.tags))


@router.post("/v1/sessions/{session_id}/messages", status_code=201, response_model=MessageOut, tags=["agent sessions"])
def post_message(session_id: str, body: MessageCreate, tenant: Tenant) -> MessageOut:
    """Record the input message and queue its turn; refused (429) once the tenant's token quota is spent.
    `controls` apply to this message's turn: `model_id` (checked here), `max_tokens` (up to the model's
    max_output_tokens), `temperature`."""
    quota_guard().check_tokens(tenant)
    quota_guard().check_storage(tenant)
    if body.controls and body.controls.model_id:
        try:
            body.controls.model_id = catalog_service().resolve_model(tenant, body.controls.model_id).id
        except InvalidRequest as error:
            raise InvalidRequest(f"controls.{error.message}") from None
    message = runtime_service().post_message(tenant, session_id, body)
    return MessageOut.model_validate(message)


@router.get("/v1/sessions/{session_id}/messages", response_model=SnakeList[MessageOut], tags=["agent sessions"])
def list_messages(
    session_id: str, tenant: Tenant, limit: Limit = 50, cursor: Cursor = None, page_token: PageToken = None
) -> SnakeList[MessageOut]:
    messages, next_cursor = runtime_service().messages(tenant, session_id, limit, cursor or page_token)
    return SnakeList(
        data=[MessageOut.model_validate(m) for m in messages],
        has_more=next_cursor is not None,
        next_cursor=next_cursor,
        limit=limit,
    )


@router.get("/v1/sessions/{session_id}/events", response_model=SnakeList[EventOut], tags=["agent sessions"])
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
    (`since_id`, `after_sequence`) it is the first N after it, and `next_cursor` is the since_id of the next page;
    no limit is every event in range up to 1,000 (`has_more` when more follow). `types` narrows, `exclude` removes,
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
        has_more=page.has_more,
        next_cursor=page.next_since_id,
        limit=limit,
    )


def capability_out(ref: str) -> CapabilityOut:
    capability = CATALOGUE[ref]
    tools = capability.tools()
    return CapabilityOut(
        id=capability.ref,
        ref=capability.ref,
        name=capability.name,
        description=capability.description,
        category=capability.category,
        config_schema=capability.config_schema(),
        features=capability.features,
        tools=[tool.name for tool in tools],
        tool_definitions=[
            ToolDefinitionOut(name=tool.name, description=tool.description, parameters=tool.input_schema)
            for tool in tools
        ],
    )


@router.get("/v1/capabilities", response_model=SnakeList[CapabilityOut], tags=["capabilities"])
def list_capabilities(
    tenant: Tenant,
    search: Annotated[str | None, Query(max_length=256, description="Name or description contains")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> SnakeList[CapabilityOut]:
    """The shipped capabilities; `search` matches the id, name or description (case-insensitive)."""
    needle = (search or "").lower()
    found = [
        ref
        for ref, capability in CATALOGUE.items()
        if needle in f"{ref}\n{capability.name}\n{capability.description}".lower()
    ]
    page = found[offset : offset + limit]
    return SnakeList(
        data=[capability_out(ref) for ref in page],
        has_more=offset + limit < len(found),
        total=len(found),
        offset=offset,
        limit=limit,
    )


@router.get("/v1/capabilities/{ref}", response_model=CapabilityOut, tags=["capabilities"])
def get_capability(ref: str, tenant: Tenant) -> CapabilityOut:
    if ref not in CATALOGUE:
        raise NotFound(f"capability {ref} not found")
    return capability_out(ref)


# ----- one agent's routes (the Everruns SDK's AgentClient, pointed at `{base}/v1/channels/{agent}`) -----
#
# `agent` is the agent's id or name; every session route checks the session is that agent's (404 otherwise).


class AgentCard(BaseModel):
    id: str
    agent_id: str
    name: str
    display_name: str
    description: str | None
    input: dict[str, list[str]] = {"content_types": ["text"]}
    credentials: list[str] = ["api_key"]
    conversation_starters: list[str] = []
    sessions_url: str


class ChannelSessionCreate(SnakeRequestModel):
    title: Annotated[str, StringConstraints(max_length=256, strip_whitespace=True)] | None = None


@router.get("/v1/channels/{agent}", response_model=AgentCard, tags=["agent channel"])
def agent_card(agent: str, tenant: Tenant) -> AgentCard:
    """The agent card: who answers on this channel and what it accepts."""
    found = channel_agent(tenant, agent)
    return AgentCard(
        id=found.id,
        agent_id=found.id,
        name=found.slug,
        display_name=found.name,
        description=found.description,
        sessions_url=f"/v1/channels/{found.slug}/sessions",
    )


@router.post("/v1/channels/{agent}/sessions", status_code=201, response_model=RuntimeSessionOut, tags=["agent channel"])
def channel_create_session(
    agent: str, tenant: Tenant, body: Annotated[ChannelSessionCreate | None, Body()] = None
) -> RuntimeSessionOut:
    found = channel_agent(tenant, agent)
    request = RuntimeSessionCreate(agent_id=found.id, title=body.title if body else None)
    return session_out(runtime_service().create(tenant, request))


@router.get("/v1/channels/{agent}/sessions", response_model=SnakeList[RuntimeSessionOut], tags=["agent channel"])
def channel_list_sessions(
    agent: str, tenant: Tenant, limit: Limit = 50, cursor: Cursor = None, page_token: PageToken = None
) -> SnakeList[RuntimeSessionOut]:
    """This agent's sessions, newest first; page on with `page_token` = `next_page_token`."""
    found = channel_agent(tenant, agent)
    views, next_cursor = runtime_service().list_page(tenant, [], limit, cursor or page_token, found.id)
    return SnakeList(
        data=[session_out(v) for v in views], has_more=next_cursor is not None, next_cursor=next_cursor, limit=limit
    )


@router.get("/v1/channels/{agent}/sessions/{session_id}", response_model=RuntimeSessionOut, tags=["agent channel"])
def channel_get_session(agent: str, session_id: str, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(channel_session(tenant, agent, session_id))


@router.post(
    "/v1/channels/{agent}/sessions/{session_id}/messages",
    status_code=201,
    response_model=MessageOut,
    tags=["agent channel"],
)
def channel_post_message(agent: str, session_id: str, body: MessageCreate, tenant: Tenant) -> MessageOut:
    channel_session(tenant, agent, session_id)
    return post_message(session_id, body, tenant)


@router.post("/v1/channels/{agent}/sessions/{session_id}/cancel", response_model=CancelOut, tags=["agent channel"])
def channel_cancel(agent: str, session_id: str, tenant: Tenant) -> CancelOut:
    channel_session(tenant, agent, session_id)
    return cancel_session(session_id, tenant)


@router.get(
    "/v1/channels/{agent}/sessions/{session_id}/events", response_model=SnakeList[EventOut], tags=["agent channel"]
)
def channel_list_events(
    request: Request,
    agent: str,
    session_id: str,
    tenant: Tenant,
    after_sequence: Annotated[int | None, Query(ge=0, description="Only events after this sequence")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> SnakeList[EventOut]:
    """Oldest first after `after_sequence` (AgentClient pages forward with it)."""
    channel_session(tenant, agent, session_id)
    return list_events(request, session_id, tenant, after_sequence=after_sequence, limit=limit)
