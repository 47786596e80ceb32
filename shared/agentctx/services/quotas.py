"""Per-tenant quotas: requests per second, tokens per month, stored tokens.

A refused request saves nothing. The request rate is counted per container in one-second windows (each container
holds the tenant to its quota; API Gateway usage plans can hold it exactly at the edge). Token and storage quotas
are held on one counter item each (usage_store.py), moved by conditional writes, so concurrent requests cannot all
pass one reading:
- a block append adds its tokens to the stored tokens in its own transaction, only while they are under the quota:
  appends are admitted exactly as if they came one at a time;
- an invocation holds an estimate of its first model call (`PreparedInvocation.call_estimate`) on the month's tokens,
  only while they are under the quota, before it runs; the request's usage, written when it ends (or fails), replaces
  the hold by what it used.
Other requests that use the quotas (messages, forks, saved invocations) check the counters before their work.
Quotas change with the admin API and reach every container within 30 seconds.
"""

import calendar
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agentctx import metering
from agentctx.errors import Throttled
from agentctx.metering import today
from agentctx.store.usage_store import storage_quota_spent

QUOTA_CACHE_SECONDS = 30
HELD_RETRY_SECONDS = 5


@dataclass
class RateState:
    limit: int
    remaining: int
    reset: int


class QuotaGuard:
    def __init__(self, tenants: Any, usage: Any, default_rate: int, clock: Callable[[], float] = time.time) -> None:
        self.tenants = tenants
        self.usage = usage
        self.default_rate = default_rate
        self.clock = clock  # the wall clock whose seconds are the rate windows
        self._lock = threading.Lock()
        self._quotas: dict[str, tuple[dict[str, Any], float]] = {}
        self._windows: dict[str, tuple[int, int]] = {}

    def quotas(self, tenant_id: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._quotas.get(tenant_id)
        if cached and cached[1] > now:
            return cached[0]
        quotas = self.tenants.get_quotas(tenant_id)
        with self._lock:
            self._quotas[tenant_id] = (quotas, now + QUOTA_CACHE_SECONDS)
        return quotas

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            self._quotas.pop(tenant_id, None)

    def admit(self, tenant_id: str) -> RateState:
        """Count the request in the current second; Throttled when the tenant's rate is used up."""
        limit = self.quotas(tenant_id).get("requestsPerSecond") or self.default_rate
        second = int(self.clock())
        with self._lock:
            window, count = self._windows.get(tenant_id, (second, 0))
            count = count + 1 if window == second else 1
            self._windows[tenant_id] = (second, count)
        if count > limit:
            raise Throttled(
                f"request rate quota of {limit} per second exceeded", {"retryAfterSeconds": 1, "limit": limit}
            )
        return RateState(limit=limit, remaining=max(0, limit - count), reset=second + 1)

    def check_tokens(self, tenant_id: str) -> None:
        """Throttled when the month's tokens (used, and held by invocations running) have reached the quota."""
        quota = self.quotas(tenant_id).get("tokensPerMonth")
        if quota is None:
            return
        used = self.usage.month_tokens(tenant_id, today()[:7])
        if used >= quota:
            raise _tokens_spent(quota, f" ({used} used or held by invocations running)")

    def hold_tokens(self, tenant_id: str, tokens: int) -> None:
        """Hold `tokens` of the month's tokens for an invocation about to run, in one conditional write; Throttled
        when the month's tokens, used and held, have reached the quota. The request's usage releases the hold."""
        quota = self.quotas(tenant_id).get("tokensPerMonth")
        if quota is None:
            return
        used = self.usage.hold_month_tokens(tenant_id, today()[:7], tokens, quota)
        if used is None:
            metering.add(tokensHeld=tokens)
        elif used < quota:  # only holds of invocations still running fill the quota: they end within minutes
            raise Throttled(
                f"monthly token quota of {quota} is held by invocations running ({used} used)",
                {"retryAfterSeconds": HELD_RETRY_SECONDS, "limit": quota},
            )
        else:
            raise _tokens_spent(quota, f" ({used} used)")

    def stored_quota(self, tenant_id: str) -> int | None:
        """The storage quota a block append's transaction is conditioned on."""
        quota: int | None = self.quotas(tenant_id).get("storedTokens")
        return quota

    def check_storage(self, tenant_id: str) -> None:
        quota = self.stored_quota(tenant_id)
        if quota is None:
            return
        stored = self.usage.stored_tokens(tenant_id)
        if stored >= quota:
            raise storage_quota_spent(quota, stored)


def _tokens_spent(quota: int, how: str) -> Throttled:
    """The token quota's refusal, to be tried again when the month ends."""
    now = datetime.now(UTC)
    last_day = calendar.monthrange(now.year, now.month)[1]
    month_end = datetime(now.year, now.month, last_day, 23, 59, 59, tzinfo=UTC)
    retry = int((month_end - now).total_seconds()) + 1
    return Throttled(f"monthly token quota of {quota} reached{how}", {"retryAfterSeconds": retry, "limit": quota})
