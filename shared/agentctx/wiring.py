"""Services and stores built once per container, from settings; the only place that wires them together.

Kept free of FastAPI so that functions without HTTP routing (the authorizer, queue consumers) import only this.
"""

from functools import lru_cache

from agentctx.pagination import CursorCodec
from agentctx.services.blocks import BlockService
from agentctx.services.catalog import CatalogService
from agentctx.services.context import ContextAssembler
from agentctx.services.invocations import InvocationService
from agentctx.services.sessions import SessionService
from agentctx.services.tenants import TenantService
from agentctx.settings import get_settings
from agentctx.store.catalog_store import CatalogStore
from agentctx.store.context_store import ContextStore
from agentctx.store.tenant_store import TenantStore


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


@lru_cache(maxsize=1)
def catalog_service() -> CatalogService:
    return CatalogService(CatalogStore(get_settings().context_table_name), cursor_codec())


@lru_cache(maxsize=1)
def invocation_service() -> InvocationService:
    from agentctx.providers import provider_for

    settings = get_settings()
    return InvocationService(
        catalog=catalog_service(),
        sessions=session_service(),
        blocks=block_service(),
        store=context_store(),
        assembler=ContextAssembler(context_store(), settings.enrichment_candidates),
        provider_for=provider_for,
        max_steps=settings.max_agent_steps,
    )
