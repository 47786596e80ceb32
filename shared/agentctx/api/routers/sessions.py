"""`/v1/aip/sessions`: create (or fork on create), list, get, fork, delete, and compact (with its job records)."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from agentctx.api.deps import Tenant
from agentctx.api.envelope import list_meta, request_id
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.api.views import session_list_item, session_meta, session_out
from agentctx.errors import UpstreamFailed
from agentctx.schemas.base import Deleted, Envelope, ListEnvelope, ListMeta, Meta, Tag
from agentctx.schemas.compaction import CompactionJobOut, CompactRequest
from agentctx.schemas.sessions import SessionCreate, SessionEnvelope, SessionFork, SessionListItem
from agentctx.services.auto_compaction import CompactionParams
from agentctx.settings import get_settings
from agentctx.wiring import compaction_service, quota_guard, session_service

router = APIRouter(prefix="/v1/aip/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=SessionEnvelope)
def create_session(request: Request, body: SessionCreate, tenant: Tenant) -> SessionEnvelope:
    if body.from_session is not None:  # a fork: it stores blocks
        quota_guard().check_storage(tenant)
    view = session_service().create(tenant, body)
    return SessionEnvelope(data=session_out(view), meta=session_meta(view, request_id(request)))


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


@router.get("/{sessionId}", response_model=SessionEnvelope)
def get_session(request: Request, sessionId: str, tenant: Tenant) -> SessionEnvelope:  # noqa: N803
    view = session_service().get(tenant, sessionId)
    return SessionEnvelope(data=session_out(view), meta=session_meta(view, request_id(request)))


@router.post("/{sessionId}/fork", status_code=201, response_model=SessionEnvelope)
def fork_session(request: Request, sessionId: str, body: SessionFork, tenant: Tenant) -> SessionEnvelope:  # noqa: N803
    quota_guard().check_storage(tenant)
    view = session_service().fork(tenant, sessionId, body)
    return SessionEnvelope(data=session_out(view), meta=session_meta(view, request_id(request)))


@router.delete("/{sessionId}", response_model=Envelope[Deleted])
def delete_session(request: Request, sessionId: str, tenant: Tenant) -> Envelope[Deleted]:  # noqa: N803
    session_service().delete(tenant, sessionId)
    return Envelope(data=Deleted(deleted=True), meta=Meta(request_id=request_id(request)))


@router.post(
    "/{sessionId}/compact",
    response_model=Envelope[CompactionJobOut],
    responses={202: {"model": Envelope[CompactionJobOut], "description": "Queued or still running"}},
)
def compact_session(
    request: Request,
    sessionId: str,  # noqa: N803
    body: CompactRequest,
    tenant: Tenant,
    prefer: Annotated[str | None, Header(max_length=256)] = None,
) -> Any:
    """Queue a compaction; wait for it (safely under API Gateway's 29 s) unless `Prefer: respond-async`."""
    settings = get_settings()
    service = compaction_service()
    params = CompactionParams(body.target_tokens, body.preserve_pinned, body.preserve_recent)
    job = service.request(tenant, sessionId, params)
    if "respond-async" not in (prefer or "").lower():
        job = service.wait(tenant, job["sessionId"][5:], job["orderKey"], settings.compaction_wait_seconds) or job
    if job["status"] == "failed":
        raise UpstreamFailed("the compaction failed", {"compaction": job})
    envelope: Envelope[CompactionJobOut] = Envelope(
        data=CompactionJobOut.model_validate(job), meta=Meta(request_id=request_id(request))
    )
    if job["status"] == "completed":
        return envelope
    location = f"/v1/aip/sessions/{sessionId}/compactions/{job['id']}"
    return JSONResponse(envelope.model_dump(by_alias=True), status_code=202, headers={"Location": location})


@router.get("/{sessionId}/compactions", response_model=ListEnvelope[CompactionJobOut])
def list_compactions(
    request: Request,
    sessionId: str,  # noqa: N803
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ListEnvelope[CompactionJobOut]:
    listed = compaction_service().list_page(tenant, sessionId, limit, cursor)
    return ListEnvelope(
        data=[CompactionJobOut.model_validate(job) for job in listed.items], meta=list_meta(request, listed)
    )


@router.get("/{sessionId}/compactions/{compactionId}", response_model=Envelope[CompactionJobOut])
def get_compaction(request: Request, sessionId: str, compactionId: str, tenant: Tenant) -> Envelope[CompactionJobOut]:  # noqa: N803
    job = compaction_service().get(tenant, sessionId, compactionId)
    return Envelope(data=CompactionJobOut.model_validate(job), meta=Meta(request_id=request_id(request)))
