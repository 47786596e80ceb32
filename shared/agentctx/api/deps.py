"""The caller's tenant for each request, and the admin check."""

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import HTTPBearer
from fastapi.security import APIKeyHeader
from fastapi.security.base import SecurityBase

from agentctx.errors import Unauthorized
from agentctx.services.tenants import admin_key_matches, api_key_from
from agentctx.settings import get_settings
from agentctx.wiring import quota_guard, tenant_service


class AuthorizationHeader(SecurityBase):
    """The Authorization header as sent, documented as a bearer token: FastAPI's HTTPBearer would drop the bare
    `Authorization: <key>` the Everruns SDK sends."""

    def __init__(self, scheme_name: str, description: str) -> None:
        self.model = HTTPBearer(bearerFormat="API key", description=description)
        self.scheme_name = scheme_name

    async def __call__(self, request: Request) -> str | None:
        return request.headers.get("Authorization")


# Each scheme named, so that the OpenAPI document declares three: FastAPI names a scheme after its class by default,
# and the three would collide into one.
api_key_header = APIKeyHeader(
    name="X-API-Key", scheme_name="TenantApiKey", description="The tenant's API key", auto_error=False
)
authorization_header = AuthorizationHeader("TenantBearer", "The tenant's API key, as `Authorization: Bearer <key>`")
admin_key_header = APIKeyHeader(
    name="X-Admin-Key", scheme_name="AdminKey", description="The operator key (the admin API only)", auto_error=False
)


def current_tenant(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)],
    authorization: Annotated[str | None, Security(authorization_header)],
) -> str:
    """Behind API Gateway the Lambda authorizer has already checked the key and passes the tenant; the local
    server and a Function URL have no authorizer, so the same check runs here."""
    event = request.scope.get("aws.event") or {}
    tenant_id = ((event.get("requestContext") or {}).get("authorizer") or {}).get("tenantId")
    if not tenant_id:
        tenant_id = tenant_service().authenticate(api_key_from(api_key, authorization))
    request.state.tenant_id = tenant_id  # the request is metered for this tenant
    request.state.rate = quota_guard().admit(tenant_id)
    return tenant_id


def require_admin(admin_key: Annotated[str | None, Security(admin_key_header)]) -> None:
    if not admin_key_matches(admin_key, get_settings().admin_key_sha256):
        raise Unauthorized("the admin API needs the operator key in X-Admin-Key")


Tenant = Annotated[str, Depends(current_tenant)]
