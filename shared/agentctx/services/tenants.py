"""Tenants and API keys: keys are stored only as sha256 hashes; one lookup maps a key to its tenant."""

import hashlib
import hmac
import secrets
import threading
import time

from agentctx.domain import ApiKey, Tenant, utc_now
from agentctx.errors import NotFound, Unauthorized
from agentctx.store.tenant_store import TenantStore

TENANT_PREFIX = "org_"
KEY_PREFIX = "key_"
API_KEY_PREFIX = "ctx_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class TenantService:
    def __init__(self, store: TenantStore, cache_seconds: int = 0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def create_tenant(self, name: str, tenant_id: str | None = None) -> Tenant:
        tenant = Tenant(id=tenant_id or TENANT_PREFIX + secrets.token_hex(16), name=name, created_at=utc_now())
        self.store.put_tenant(tenant)
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant:
        tenant = self.store.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found")
        return tenant

    def set_quotas(self, tenant_id: str, quotas: dict[str, int | None]) -> None:
        self.store.put_quotas(tenant_id, quotas)

    def quotas(self, tenant_id: str) -> dict[str, int | None]:
        self.get_tenant(tenant_id)
        return self.store.get_quotas(tenant_id)

    def issue_key(self, tenant_id: str, key: str | None = None) -> tuple[ApiKey, str]:
        """A new key for the tenant; the plain key is returned here and never again."""
        plain = key or API_KEY_PREFIX + secrets.token_urlsafe(32)
        api_key = ApiKey(id=KEY_PREFIX + secrets.token_hex(16), tenant_id=tenant_id, created_at=utc_now())
        self.store.put_key(api_key, hash_key(plain))
        return api_key, plain

    def revoke_key(self, tenant_id: str, key_id: str) -> None:
        self.store.delete_key(tenant_id, key_id)
        with self._lock:
            self._cache.clear()

    def authenticate(self, key: str | None, fresh: bool = False) -> str:
        """The tenant id for an API key; a short per-container cache spares repeated lookups, unless `fresh` (an
        open stream re-checking its key once per cache window, so a revoked key ends it within one)."""
        if not key:
            raise Unauthorized("missing API key: send X-API-Key, Authorization: Bearer <key> or Authorization: <key>")
        key_hash = hash_key(key)
        now = time.monotonic()
        with self._lock:
            cached = None if fresh else self._cache.get(key_hash)
        if cached and cached[1] > now:
            return cached[0]
        tenant_id = self.store.tenant_for_key_hash(key_hash)
        if tenant_id is None:
            raise Unauthorized("invalid or revoked API key")
        if self.cache_seconds:
            with self._lock:
                self._cache[key_hash] = (tenant_id, now + self.cache_seconds)
        return tenant_id


def api_key_from(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request carries: `X-API-Key`, `Authorization: Bearer <key>`, or a bare `Authorization: <key>`
    (what the Everruns SDK sends)."""
    if x_api_key:
        return x_api_key
    value = (authorization or "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return value if value and not rest else None


def admin_key_matches(given: str | None, expected_sha256: str) -> bool:
    return bool(given and expected_sha256) and hmac.compare_digest(hash_key(given or ""), expected_sha256)
