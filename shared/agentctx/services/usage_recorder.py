"""Writing a request's metered counts: what the edges (the HTTP middleware, the queue consumers) do once a request
ends, with the counts agentctx.metering collected while it ran."""

from collections import Counter

from agentctx.metering import today
from agentctx.store.usage_store import COUNTERS, UsageStore


class UsageRecorder:
    """Stores a request's counts for its tenant and day, and inside Lambda also emits them as EMF metrics.

    - One call to the usage store per request (nothing for a request that counted nothing).
    - Metrics only where the Lambda runtime reads them from the log (`emit_metrics`).
    """

    def __init__(self, store: UsageStore, emit_metrics: bool) -> None:
        self.store = store
        self.emit_metrics = emit_metrics

    def write(self, tenant_id: str, usage: Counter[str]) -> None:
        if not usage:
            return
        self.store.add(tenant_id, today(), dict(usage))
        if self.emit_metrics:
            from aws_lambda_powertools.metrics import MetricUnit, single_metric

            for name, value in usage.items():
                if name not in COUNTERS:
                    continue  # what a request already counted on the quota counters, no metric
                with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace="AgentContext") as metric:
                    metric.add_dimension(name="tenant", value=tenant_id)
