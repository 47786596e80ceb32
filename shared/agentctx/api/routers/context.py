"""`POST /v1/aip/context`: the assembled context for a prompt, rendered for the caller's own agent loop (plain text
or a provider's request body), or with an agent named the preview of what invoking it would send."""

from fastapi import APIRouter, Request

from agentctx.api.deps import Tenant
from agentctx.api.envelope import request_id
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.schemas.base import Envelope, Meta
from agentctx.schemas.invoke import ContextRequest, RenderedContext
from agentctx.services.invocations import command_from
from agentctx.wiring import context_renderer

router = APIRouter(tags=["invoke"], responses=ERROR_RESPONSES)


@router.post("/v1/aip/context", response_model=Envelope[RenderedContext])
def render_context(request: Request, body: ContextRequest, tenant: Tenant) -> Envelope[RenderedContext]:
    """Nothing is written and no model is called; metered as a read."""
    rendered = context_renderer().render(tenant, command_from(body), body.system_prompt, body.format)
    return Envelope(data=RenderedContext.model_validate(rendered), meta=Meta(request_id=request_id(request)))
