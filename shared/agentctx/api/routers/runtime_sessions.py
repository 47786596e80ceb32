"""The agent-runtime surface (seeds 002 and 003), its sessions: `/v1/sessions` to create, list, read, update,
delete, cancel and fork. Objects come back bare and in snake_case, lists as `{"data", "has_more", "next_cursor"}`
(with Everruns' `total`, `offset`, `limit`, `next_page_token`), errors in the service's one error envelope. What the
Everruns SDK calls is listed in docs/agent-sessions.md."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from agentctx import ids
from agentctx.api.deps import Tenant
from agentctx.api.list_params import Cursor, Limit, PageToken
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.api.runtime_views import session_out
from agentctx.errors import InvalidRequest
from agentctx.schemas.base import Tag
from agentctx.schemas.catalog import SnakeList
from agentctx.schemas.runtime import (
    CancelOut,
    ForkRequest,
    RuntimeSessionCreate,
    RuntimeSessionOut,
    RuntimeSessionUpdate,
)
from agentctx.wiring import quota_guard, runtime_service

router = APIRouter(tags=["agent sessions"], responses=ERROR_RESPONSES)


@router.post("/v1/sessions", status_code=201, response_model=RuntimeSessionOut)
def create_session(body: RuntimeSessionCreate, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().create(tenant, body))


@router.get("/v1/sessions", response_model=SnakeList[RuntimeSessionOut])
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


@router.get("/v1/sessions/{session_id}", response_model=RuntimeSessionOut)
def get_session(session_id: str, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().get(tenant, session_id))


@router.patch("/v1/sessions/{session_id}", response_model=RuntimeSessionOut)
def update_session(session_id: str, body: RuntimeSessionUpdate, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(runtime_service().update(tenant, session_id, body))


@router.delete("/v1/sessions/{session_id}", status_code=204, response_class=Response)
def delete_session(session_id: str, tenant: Tenant) -> Response:
    """Deleted with its blocks, messages, events and files; 204, as Everruns answers."""
    runtime_service().delete(tenant, session_id)
    return Response(status_code=204)


@router.post("/v1/sessions/{session_id}/cancel", response_model=CancelOut)
def cancel_session(session_id: str, tenant: Tenant) -> CancelOut:
    """Cancel the running turn and those queued behind it (Everruns' CancelTurnResponse); `no_op` when idle."""
    view = runtime_service().cancel(tenant, session_id)
    if view.session.busy:
        return CancelOut(status="cancelled", message="Turn cancelled successfully")
    return CancelOut(status="no_op", message="No turn was running")


@router.post("/v1/sessions/{session_id}/fork", status_code=201, response_model=RuntimeSessionOut)
def fork_session(
    session_id: str, tenant: Tenant, body: Annotated[ForkRequest | None, Body()] = None
) -> RuntimeSessionOut:
    """A copy of the session; `title` and `tags` replace the parent's when given."""
    request = body or ForkRequest()
    quota_guard().check_storage(tenant)
    return session_out(runtime_service().fork(tenant, session_id, request.title, request.tags))
