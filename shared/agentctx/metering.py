"""Usage metered as it happens: code that does billable work adds to the current request's counts, and the
request's edge (the HTTP middleware, a queue consumer) writes them once when it ends (services/usage_recorder.py).
Counting knows nothing of how counts are stored."""

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
