"""Usage: `GET /v1/usage` for the calling tenant, `GET /v1/admin/tenants/{tenantId}/usage` for the operator."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from agentctx.api.deps import Tenant, require_admin
from agentctx.api.envelope import request_id
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.metering import today
from agentctx.schemas.base import Envelope, Meta
from agentctx.schemas.usage import UsageOut
from agentctx.wiring import tenant_service, usage_store

router = APIRouter(tags=["usage"], responses=ERROR_RESPONSES)
Period = Annotated[Literal["day", "month"], Query(description="The current UTC day or month")]


def usage_out(tenant_id: str, period: str) -> UsageOut:
    start = today() if period == "day" else today()[:7]
    totals = usage_store().totals(tenant_id, start)
    cost = round(totals.pop("costMicroUsd") / 1_000_000, 6)
    return UsageOut(tenant_id=tenant_id, period=period, start=start, cost_usd=cost, **totals)  # type: ignore[arg-type]


@router.get("/v1/usage", response_model=Envelope[UsageOut])
def my_usage(request: Request, tenant: Tenant, period: Period = "day") -> Envelope[UsageOut]:
    return Envelope(data=usage_out(tenant, period), meta=Meta(request_id=request_id(request)))


@router.get(
    "/v1/admin/tenants/{tenantId}/usage", response_model=Envelope[UsageOut], dependencies=[Depends(require_admin)]
)
def tenant_usage(request: Request, tenantId: str, period: Period = "day") -> Envelope[UsageOut]:  # noqa: N803
    tenant_service().get_tenant(tenantId)
    return Envelope(data=usage_out(tenantId, period), meta=Meta(request_id=request_id(request)))
