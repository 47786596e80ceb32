"""Services built once per container, and the caller's tenant for each request."""

from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from agentctx.errors import Unauthorized
from agentctx.pagination import CursorCodec
from agentctx.services.blocks import BlockService
from agentctx.services.sessions import SessionService
from agentctx.services.tenants import TenantService, admin_key_matches
from agentctx.settings import get_settings
from agentctx.store.context_store import ContextStore
from agentctx.store.tenant_store import TenantStore

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
bearer = HTTPBearer(auto_error=False)
admin_key_header = APIKeyHeader(name="X-Admin-Key", auto_error=False)


@lru_cache(maxsize=1)
def context_store() -> ContextStore:
    return ContextStore(get_settings().context_table_name)


@lru_cache(maxsize=1)
def cursor_codec() -> CursorCodec:
    return CursorCodec(get_settings().cursor_secret.get_secret_value().encode())


@lru_cache(maxsize=1)
def session_service() -> SessionService:
    return SessionService(context_store(), cursor_codec())


@lru_cache(maxsize=1)
def block_service() -> BlockService:
    settings = get_settings()
    return BlockService(context_store(), cursor_codec(), settings.max_block_bytes, settings.tokenizer_encoding)


@lru_cache(maxsize=1)
def tenant_service() -> TenantService:
    settings = get_settings()
    return TenantService(TenantStore(settings.tenants_table_name), settings.api_key_cache_seconds)


def current_tenant(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> str:
    """Behind API Gateway the Lambda authorizer has already checked the key and passes the tenant; the local
    server and a Function URL have no authorizer, so the same check runs here."""
    event = request.scope.get("aws.event") or {}
    authorized_tenant = ((event.get("requestContext") or {}).get("authorizer") or {}).get("tenantId")
    if authorized_tenant:
        return authorized_tenant
    return tenant_service().authenticate(api_key or (credentials.credentials if credentials else None))


def require_admin(admin_key: Annotated[str | None, Security(admin_key_header)]) -> None:
    if not admin_key_matches(admin_key, get_settings().admin_key_sha256):
        raise Unauthorized("the admin API needs the operator key in X-Admin-Key")


Tenant = Annotated[str, Depends(current_tenant)]
