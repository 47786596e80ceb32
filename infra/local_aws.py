"""An embedded AWS for the local server and the tests: moto, with the tables of template.yaml."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infra.template import create_tables

_dynamodb_lock = threading.RLock()
_patched = False


def _apply_dynamodb_requests_one_at_a_time() -> None:
    """DynamoDB applies each request atomically; moto's in-memory backend does not lock, so two threads (the
    local server's worker pool, a concurrency test) could interleave inside one request. Serialise them."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _dynamodb_lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patched = True


@contextmanager
def local_aws(table_names: dict[str, str]) -> Iterator[None]:
    """moto for the duration, with the template's tables under the given names (logical id -> name)."""
    import boto3
    from moto import mock_aws

    _apply_dynamodb_requests_one_at_a_time()
    with mock_aws():
        create_tables(boto3.client("dynamodb"), table_names)
        yield
