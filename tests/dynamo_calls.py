"""DynamoDB calls counted by API through botocore's event hooks on the shared client: for tests that say how many
calls a request makes, and for `make bench`."""

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class CallCounter:
    """Counts the calls made inside `measure()`, only those that name `table` when one is given. The hook is on the
    process's one client, so it is removed when the measurement ends."""

    def __init__(self, table: str | None = None) -> None:
        self.table = table
        self.calls: Counter[str] = Counter()

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.table is None or self.table in json.dumps(params, default=str):
            self.calls[model.name] += 1

    @contextmanager
    def measure(self) -> Iterator[dict[str, Any]]:
        from agentctx.store.dynamo import dynamodb_client

        events = dynamodb_client().meta.events
        self.calls.clear()
        result: dict[str, Any] = {}
        events.register("before-call.dynamodb", self._count)
        start = time.perf_counter()
        try:
            yield result
        finally:
            events.unregister("before-call.dynamodb", self._count)
        result["ms"] = (time.perf_counter() - start) * 1000
        result["calls"] = sum(self.calls.values())
        result["detail"] = ", ".join(f"{name} {count}" for name, count in sorted(self.calls.items()))
