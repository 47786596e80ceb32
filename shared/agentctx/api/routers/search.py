"""`POST /v1/aip/search`: hybrid search over the tenant's blocks (docs/search.md)."""

from fastapi import APIRouter, Request

from agentctx.api.deps import Tenant
from agentctx.api.envelope import request_id
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.api.views import search_results
from agentctx.schemas.base import ResponseModel
from agentctx.schemas.search import SearchMeta, SearchRequest, SearchResults
from agentctx.services.search import query_from
from agentctx.wiring import search_service

router = APIRouter(tags=["search"], responses=ERROR_RESPONSES)


class SearchEnvelope(ResponseModel):
    data: SearchResults
    meta: SearchMeta


@router.post("/v1/aip/search", response_model=SearchEnvelope)
def search(request: Request, body: SearchRequest, tenant: Tenant) -> SearchEnvelope:
    """Blocks of the tenant's sessions that match the query, best first; metered as a read. Blocks written in the
    last seconds may not be found yet: they are indexed from the table's stream."""
    outcome = search_service().search(tenant, query_from(body))
    meta = SearchMeta(request_id=request_id(request), search_mode=outcome.mode, degraded=outcome.degraded)
    return SearchEnvelope(data=search_results(outcome), meta=meta)
