"""Usage metered as it happens: code that does billable work adds to the current request's counts, and the
request's edge (the HTTP middleware, a queue consumer) writes them once, with one UpdateItem, when it ends."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

current: ContextVar[Counter[str] | None] = ContextVar("agentctx_usage", default=None)


def add(**counts: int) -> None:
    """Count work for the request under way (nothing is counted outside one)."""
    usage = current.get()
    if usage is not None:
        usage.update(counts)


@contextmanager
def metered() -> Iterator[Counter[str]]:
    """Collect the counts of the work done inside; the caller writes them."""
    usage: Counter[str] = Counter()
    token = current.set(usage)
    try:
        yield usage
    finally:
        current.reset(token)


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def write(tenant_id: str, usage: Counter[str]) -> None:
    """Store a request's counts (one call) and, inside Lambda, emit them as EMF metrics per tenant."""
    if not usage:
        return
    from agentctx.settings import get_settings
    from agentctx.wiring import usage_store

    usage_store().add(tenant_id, today(), dict(usage))
    if get_settings().aws_lambda_function_name:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        for name, value in usage.items():
            with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace="AgentContext") as metric:
                metric.add_dimension(name="tenant", value=tenant_id)
