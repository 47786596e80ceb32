"""Context blocks: `/v1/aip/blocks` (one at a time) and `/v1/aip/sessions/{sessionId}/blocks` (batch, list)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from agentctx.api.deps import Tenant
from agentctx.api.envelope import list_meta, request_id
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.api.views import block_out
from agentctx.domain import BlockType
from agentctx.schemas.base import Deleted, Envelope, ListEnvelope, ListMeta, Meta, Tag
from agentctx.schemas.blocks import BlockBatchCreate, BlockCreate, BlockOut, BlockPatch
from agentctx.wiring import block_service, quota_guard

router = APIRouter(tags=["blocks"], responses=ERROR_RESPONSES)


@router.post("/v1/aip/blocks", status_code=201, response_model=Envelope[BlockOut], response_model_exclude_none=True)
def create_block(request: Request, body: BlockCreate, tenant: Tenant) -> Envelope[BlockOut]:
    (block,) = block_service().append(tenant, body.session_id, [body], quota_guard().stored_quota(tenant))
    return Envelope(data=block_out(block), meta=Meta(request_id=request_id(request)))


@router.post(
    "/v1/aip/sessions/{sessionId}/blocks",
    status_code=201,
    response_model=ListEnvelope[BlockOut],
    response_model_exclude_none=True,
)
def append_blocks(request: Request, sessionId: str, body: BlockBatchCreate, tenant: Tenant) -> ListEnvelope[BlockOut]:  # noqa: N803
    blocks = block_service().append(tenant, sessionId, body.blocks, quota_guard().stored_quota(tenant))
    return ListEnvelope(
        data=[block_out(block) for block in blocks], meta=ListMeta(request_id=request_id(request), has_more=False)
    )


@router.get(
    "/v1/aip/sessions/{sessionId}/blocks", response_model=ListEnvelope[BlockOut], response_model_exclude_none=True
)
def list_blocks(
    request: Request,
    sessionId: str,  # noqa: N803
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    type: BlockType | None = None,
    tag: Tag | None = None,
    pinned: bool | None = None,
    include: Annotated[Literal["content"] | None, Query(description="`content` to include block contents")] = None,
    include_compacted: Annotated[
        bool, Query(alias="includeCompacted", description="Also list blocks a summary has replaced")
    ] = False,
) -> ListEnvelope[BlockOut]:
    with_content = include == "content"
    listed = block_service().list_page(
        tenant,
        sessionId,
        limit=limit,
        cursor=cursor,
        include_content=with_content,
        block_type=type,
        tag=tag,
        pinned=pinned,
        include_compacted=include_compacted,
    )
    return ListEnvelope(
        data=[block_out(block, with_content) for block in listed.items], meta=list_meta(request, listed)
    )


@router.get("/v1/aip/blocks/{blockId}", response_model=Envelope[BlockOut], response_model_exclude_none=True)
def get_block(request: Request, blockId: str, tenant: Tenant) -> Envelope[BlockOut]:  # noqa: N803
    return Envelope(data=block_out(block_service().get(tenant, blockId)), meta=Meta(request_id=request_id(request)))


@router.patch("/v1/aip/blocks/{blockId}", response_model=Envelope[BlockOut], response_model_exclude_none=True)
def patch_block(request: Request, blockId: str, body: BlockPatch, tenant: Tenant) -> Envelope[BlockOut]:  # noqa: N803
    block = block_service().patch(tenant, blockId, body)
    return Envelope(data=block_out(block), meta=Meta(request_id=request_id(request)))


@router.delete("/v1/aip/blocks/{blockId}", response_model=Envelope[Deleted])
def delete_block(request: Request, blockId: str, tenant: Tenant) -> Envelope[Deleted]:  # noqa: N803
    block_service().delete(tenant, blockId)
    return Envelope(data=Deleted(deleted=True), meta=Meta(request_id=request_id(request)))
