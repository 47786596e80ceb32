"""Per-tenant quotas: requests per second, tokens per month, stored tokens.

Checked before any work, so a refused request saves nothing. The request rate is counted per container in
one-second windows (each container holds the tenant to its quota; API Gateway usage plans can hold it exactly at
the edge). Token and storage quotas are exact: each check reads the tenant's metered usage strongly consistent
(one call, and none for a tenant without that quota), so once a quota is spent the next request is refused on
every container; only requests already running may overshoot. Quotas change with the admin API and reach every
container within 30 seconds.
"""

import calendar
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agentctx.errors import Throttled
from agentctx.metering import today

QUOTA_CACHE_SECONDS = 30


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
        quota = self.quotas(tenant_id).get("tokensPerMonth")
        if quota is None:
            return
        month = self.usage.totals(tenant_id, today()[:7])
        used = month["inputTokens"] + month["outputTokens"]
        if used >= quota:
            now = datetime.now(UTC)
            last_day = calendar.monthrange(now.year, now.month)[1]
            month_end = datetime(now.year, now.month, last_day, 23, 59, 59, tzinfo=UTC)
            retry = int((month_end - now).total_seconds()) + 1
            raise Throttled(
                f"monthly token quota of {quota} reached ({used} used)", {"retryAfterSeconds": retry, "limit": quota}
            )

    def check_storage(self, tenant_id: str) -> None:
        quota = self.quotas(tenant_id).get("storedTokens")
        if quota is None:
            return
        stored = self.usage.stored_tokens(tenant_id)
        if stored >= quota:
            raise Throttled(
                f"stored token quota of {quota} reached ({stored} stored); compact or delete sessions to make room",
                {"retryAfterSeconds": 60, "limit": quota},
            )
