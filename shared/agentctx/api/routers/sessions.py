"""`/v1/aip/sessions`: create (or fork on create), list, get, fork, delete."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from agentctx.api.app import ERROR_RESPONSES, request_id
from agentctx.api.deps import Tenant
from agentctx.api.views import session_list_item, session_out
from agentctx.schemas import (
    Deleted,
    Envelope,
    ListEnvelope,
    ListMeta,
    Meta,
    SessionCreate,
    SessionFork,
    SessionListItem,
    SessionOut,
    Tag,
)
from agentctx.wiring import session_service

router = APIRouter(prefix="/v1/aip/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=Envelope[SessionOut])
def create_session(request: Request, body: SessionCreate, tenant: Tenant) -> Envelope[SessionOut]:
    view = session_service().create(tenant, body)
    return Envelope(data=session_out(view), meta=Meta(request_id=request_id(request)))


@router.get("", response_model=ListEnvelope[SessionListItem])
def list_sessions(
    request: Request,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    tag: Tag | None = None,
) -> ListEnvelope[SessionListItem]:
    sessions, next_cursor = session_service().list_page(tenant, tag, limit, cursor)
    return ListEnvelope(
        data=[session_list_item(session) for session in sessions],
        meta=ListMeta(request_id=request_id(request), has_more=next_cursor is not None, next_cursor=next_cursor),
    )


@router.get("/{sessionId}", response_model=Envelope[SessionOut])
def get_session(request: Request, sessionId: str, tenant: Tenant) -> Envelope[SessionOut]:  # noqa: N803
    view = session_service().get(tenant, sessionId)
    return Envelope(data=session_out(view), meta=Meta(request_id=request_id(request)))


@router.post("/{sessionId}/fork", status_code=201, response_model=Envelope[SessionOut])
def fork_session(request: Request, sessionId: str, body: SessionFork, tenant: Tenant) -> Envelope[SessionOut]:  # noqa: N803
    view = session_service().fork(tenant, sessionId, body)
    return Envelope(data=session_out(view), meta=Meta(request_id=request_id(request)))


@router.delete("/{sessionId}", response_model=Envelope[Deleted])
def delete_session(request: Request, sessionId: str, tenant: Tenant) -> Envelope[Deleted]:  # noqa: N803
    session_service().delete(tenant, sessionId)
    return Envelope(data=Deleted(deleted=True), meta=Meta(request_id=request_id(request)))
