"""The operator's API: tenants and their API keys, behind the operator key in X-Admin-Key."""

from fastapi import APIRouter, Depends, Request

from agentctx.api.deps import require_admin
from agentctx.api.envelope import request_id
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.schemas.admin import ApiKeyOut, QuotasIn, QuotasOut, Revoked, TenantCreate, TenantOut
from agentctx.schemas.base import Envelope, Meta
from agentctx.wiring import quota_guard, tenant_service

router = APIRouter(
    prefix="/v1/admin/tenants", tags=["admin"], dependencies=[Depends(require_admin)], responses=ERROR_RESPONSES
)


@router.post("", status_code=201, response_model=Envelope[TenantOut])
def create_tenant(request: Request, body: TenantCreate) -> Envelope[TenantOut]:
    tenant = tenant_service().create_tenant(body.name)
    return Envelope(
        data=TenantOut(id=tenant.id, name=tenant.name, created_at=tenant.created_at),
        meta=Meta(request_id=request_id(request)),
    )


@router.post("/{tenantId}/keys", status_code=201, response_model=Envelope[ApiKeyOut])
def issue_key(request: Request, tenantId: str) -> Envelope[ApiKeyOut]:  # noqa: N803
    api_key, plain = tenant_service().issue_key(tenantId)
    return Envelope(
        data=ApiKeyOut(id=api_key.id, tenant_id=api_key.tenant_id, key=plain, created_at=api_key.created_at),
        meta=Meta(request_id=request_id(request)),
    )


@router.delete("/{tenantId}/keys/{keyId}", response_model=Envelope[Revoked])
def revoke_key(request: Request, tenantId: str, keyId: str) -> Envelope[Revoked]:  # noqa: N803
    tenant_service().revoke_key(tenantId, keyId)
    return Envelope(data=Revoked(revoked=True), meta=Meta(request_id=request_id(request)))


def _quotas_out(tenant_id: str, quotas: dict) -> QuotasOut:
    return QuotasOut(
        tenant_id=tenant_id,
        requests_per_second=quotas.get("requestsPerSecond"),
        tokens_per_month=quotas.get("tokensPerMonth"),
        stored_tokens=quotas.get("storedTokens"),
    )


@router.put("/{tenantId}/quotas", response_model=Envelope[QuotasOut])
def set_quotas(request: Request, tenantId: str, body: QuotasIn) -> Envelope[QuotasOut]:  # noqa: N803
    quotas = body.model_dump(by_alias=True)
    tenant_service().set_quotas(tenantId, quotas)
    quota_guard().forget(tenantId)
    return Envelope(data=_quotas_out(tenantId, quotas), meta=Meta(request_id=request_id(request)))


@router.get("/{tenantId}/quotas", response_model=Envelope[QuotasOut])
def get_quotas(request: Request, tenantId: str) -> Envelope[QuotasOut]:  # noqa: N803
    quotas = tenant_service().quotas(tenantId)
    return Envelope(data=_quotas_out(tenantId, quotas), meta=Meta(request_id=request_id(request)))
