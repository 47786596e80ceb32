"""The agent-runtime surface (seeds 002 and 003): `/v1/sessions` with their messages and event log, and the
`/v1/capabilities` catalogue. Objects come back bare and in snake_case, lists as `{"data", "has_more",
"next_cursor"}`, errors in the service's one error envelope. The event stream (`.../sse`) is served by the
streaming function (routers/runtime_stream.py)."""

from typing import Annotated

from fastapi import APIRouter, Query

from agentctx.api.app import ERROR_RESPONSES
from agentctx.api.deps import Tenant
from agentctx.capabilities import CATALOGUE
from agentctx.errors import NotFound
from agentctx.schemas import Tag
from agentctx.schemas.catalog import CapabilityRefOut, SnakeDeleted, SnakeList
from agentctx.schemas.runtime import (
    CapabilityOut,
    EventOut,
    MessageCreate,
    MessageOut,
    RuntimeSessionCreate,
    RuntimeSessionOut,
    RuntimeSessionUpdate,
    SessionUsage,
)
from agentctx.services.runtime import RuntimeView
from agentctx.wiring import quota_guard, runtime_service

router = APIRouter(responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
SinceId = Annotated[str | None, Query(max_length=64, description="Only events after this event id")]


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
    )


@router.post("/v1/sessions", status_code=201, response_model=RuntimeSessionOut, tags=["agent sessions"])
def create_session(body: RuntimeSessionCreate, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().create(tenant, body))


@router.get("/v1/sessions", response_model=SnakeList[RuntimeSessionOut], tags=["agent sessions"])
def list_sessions(
    tenant: Tenant,
    tags: Annotated[list[Tag], Query(max_length=20, description="Only sessions with every one of these tags")] = [],  # noqa: B006
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SnakeList[RuntimeSessionOut]:
    views, next_cursor = runtime_service().list_page(tenant, tags, limit, cursor)
    return SnakeList(data=[session_out(v) for v in views], has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/sessions/{session_id}", response_model=RuntimeSessionOut, tags=["agent sessions"])
def get_session(session_id: str, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().get(tenant, session_id))


@router.patch("/v1/sessions/{session_id}", response_model=RuntimeSessionOut, tags=["agent sessions"])
def update_session(session_id: str, body: RuntimeSessionUpdate, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().update(tenant, session_id, body))


@router.delete("/v1/sessions/{session_id}", response_model=SnakeDeleted, tags=["agent sessions"])
def delete_session(session_id: str, tenant: Tenant) -> SnakeDeleted:
    runtime_service().delete(tenant, session_id)
    return SnakeDeleted(id=session_id, deleted=True)


@router.post("/v1/sessions/{session_id}/cancel", response_model=RuntimeSessionOut, tags=["agent sessions"])
def cancel_session(session_id: str, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().cancel(tenant, session_id))


@router.post(
    "/v1/sessions/{session_id}/fork", status_code=201, response_model=RuntimeSessionOut, tags=["agent sessions"]
)
def fork_session(session_id: str, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().fork(tenant, session_id))


@router.post("/v1/sessions/{session_id}/messages", status_code=201, response_model=MessageOut, tags=["agent sessions"])
def post_message(session_id: str, body: MessageCreate, tenant: Tenant) -> MessageOut:
    """Record the input message and queue its turn; refused (429) once the tenant's token quota is spent."""
    quota_guard().check_tokens(tenant)
    message = runtime_service().post_message(tenant, session_id, body)
    return MessageOut.model_validate(message)


@router.get("/v1/sessions/{session_id}/messages", response_model=SnakeList[MessageOut], tags=["agent sessions"])
def list_messages(session_id: str, tenant: Tenant, limit: Limit = 50, cursor: Cursor = None) -> SnakeList[MessageOut]:
    messages, next_cursor = runtime_service().messages(tenant, session_id, limit, cursor)
    return SnakeList(
        data=[MessageOut.model_validate(m) for m in messages], has_more=next_cursor is not None, next_cursor=next_cursor
    )


@router.get("/v1/sessions/{session_id}/events", response_model=SnakeList[EventOut], tags=["agent sessions"])
def list_events(
    session_id: str, tenant: Tenant, since_id: SinceId = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> SnakeList[EventOut]:
    """The event log in order, after `since_id`; with has_more, `next_cursor` is the since_id of the next page."""
    events, more = runtime_service().events(tenant, session_id, since_id, limit)
    return SnakeList(
        data=[EventOut.model_validate(e) for e in events],
        has_more=more,
        next_cursor=events[-1]["id"] if more else None,
    )


def capability_out(ref: str) -> CapabilityOut:
    capability = CATALOGUE[ref]
    return CapabilityOut(
        ref=capability.ref,
        name=capability.name,
        description=capability.description,
        config_schema=capability.config_schema(),
        features=capability.features,
        tools=[tool.name for tool in capability.tools()],
    )


@router.get("/v1/capabilities", response_model=SnakeList[CapabilityOut], tags=["capabilities"])
def list_capabilities(tenant: Tenant) -> SnakeList[CapabilityOut]:
    return SnakeList(data=[capability_out(ref) for ref in CATALOGUE], has_more=False)


@router.get("/v1/capabilities/{ref}", response_model=CapabilityOut, tags=["capabilities"])
def get_capability(ref: str, tenant: Tenant) -> CapabilityOut:
    if ref not in CATALOGUE:
        raise NotFound(f"capability {ref} not found")
    return capability_out(ref)
