"""An embedded AWS for the local server and the tests: moto, with the tables of template.yaml."""

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from infra.template import create_event_buses, create_queues, create_tables

_dynamodb_lock = threading.RLock()
_patched = False
_dynamodb_writes = 0
_WRITE_ACTIONS = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    "CreateTable",
    "UpdateTable",
    "DeleteTable",
}


def dynamodb_write_count() -> int:
    """How many writing requests the embedded DynamoDB has answered: the local snapshot is taken when it moves."""
    return _dynamodb_writes


@contextmanager
def dynamodb_paused() -> Iterator[None]:
    """No other thread's DynamoDB request runs meanwhile (this thread's do): a consistent point to read every table."""
    with _dynamodb_lock:
        yield


def _apply_dynamodb_requests_one_at_a_time() -> None:
    """DynamoDB applies each request atomically; moto's in-memory backend does not lock, so two threads (the
    local server's worker pool, a concurrency test) could interleave inside one request. Serialise them."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        global _dynamodb_writes
        with _dynamodb_lock:
            if self.headers.get("X-Amz-Target", "").rpartition(".")[2] in _WRITE_ACTIONS:
                _dynamodb_writes += 1
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _copy_each_table_once_per_transaction()
    _patched = True


def _copy_each_table_once_per_transaction() -> None:
    """moto backs up a table before every action of a transaction (a deep copy each time), so one 100-block
    append into a 10,000-block table copied it 100 times. One backup per table per transaction is the same
    rollback; DynamoDB itself pays nothing like either."""
    from moto.dynamodb import models

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups: dict[int, Any] = {}

        def deepcopy(value: Any, memo: Any = None) -> Any:
            if not isinstance(value, models.Table):
                return copy.deepcopy(value, memo)
            if id(value) not in backups:
                backups[id(value)] = copy.deepcopy(value, memo)
            return backups[id(value)]

        models.copy = SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment]
        try:
            original(self, transact_items)
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


@contextmanager
def local_aws(names: dict[str, str]) -> Iterator[dict[str, str]]:
    """moto for the duration, with the template's tables, buses and queues under the given names (logical id -> name);
    yields the queues' URLs by logical id."""
    import boto3
    from moto import mock_aws

    _apply_dynamodb_requests_one_at_a_time()
    with mock_aws():
        create_tables(boto3.client("dynamodb"), names)
        create_event_buses(boto3.client("events"), names)
        yield create_queues(boto3.client("sqs"), names)
