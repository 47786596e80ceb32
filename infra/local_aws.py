"""An embedded AWS for the local server and the tests: moto, with the tables, queues, buses and vector index of
template.yaml."""

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from infra.local_journal import Journal
from infra.local_vectors import answer_query_vectors
from infra.moto_sorted_views import keep_sorted_views_of_each_partition
from infra.template import create_event_buses, create_queues, create_tables, create_vector_indexes

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

_dynamodb_lock = threading.RLock()
_sqs_lock = threading.RLock()
# How often a long poll of the embedded SQS looks at its queue again while it waits.
_RECEIVE_LOOK_SECONDS = 0.02
_patched = False
_journal: Journal | None = None
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
# What changes a queue for good; a receive or a delete that a crash forgets only brings a message again.
_SQS_WRITE_ACTIONS = {"SendMessage", "SendMessageBatch"}


@contextmanager
def writes_paused() -> Iterator[None]:
    """No other thread's DynamoDB or SQS request runs meanwhile (this thread's do): a consistent point to read every
    table and queue, and the log's LSN that they include."""
    with _sqs_lock, _dynamodb_lock:
        yield


def log_writes_to(journal: Journal | None) -> None:
    """From now on each write the embedded DynamoDB and SQS accept is in `journal`, fsynced, before it is answered
    (None: not logged)."""
    global _journal
    _journal = journal


def _logged(response: Any, action: str, actions: set[str], handler: Any) -> int | None:
    """The LSN of an accepted write, logged as it was received; called under the service's lock."""
    if _journal is None or action not in actions or response[0] >= 400:
        return None
    body = handler.raw_body if isinstance(handler.raw_body, str) else handler.raw_body.decode()
    headers = {name: handler.headers[name] for name in ("X-Amz-Target", "Content-Type") if name in handler.headers}
    return _journal.append({"url": handler.parsed_url.geturl(), "headers": headers, "body": body})


def _answered_when_durable(response: Any, lsn: int | None) -> Any:
    if lsn is not None and _journal is not None:
        _journal.wait_durable(lsn)
    return response


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
            response = original(self)
            lsn = _logged(response, self.headers.get("X-Amz-Target", "").rpartition(".")[2], _WRITE_ACTIONS, self)
        return _answered_when_durable(response, lsn)  # outside the lock: waiting writers share one fsync

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _apply_sqs_requests_one_at_a_time()
    _copy_each_table_once_per_transaction()
    keep_sorted_views_of_each_partition()
    _patched = True


def _apply_sqs_requests_one_at_a_time() -> None:
    """SQS applies each request atomically, and a FIFO queue gives a message group to one receiver at a time; moto's
    queues do not lock, so two pollers of the turn queue could both take one session's messages (and a send during a
    receive could break it: "Set changed size during iteration"). Each request runs alone here; a long poll holds
    the lock only while it looks at the queue, not while it waits."""
    from moto.sqs.models import SQSBackend
    from moto.sqs.responses import SQSResponse

    original_call, original_receive = SQSResponse.call_action, SQSBackend.receive_message

    def call_action(self: Any) -> Any:
        action = self._get_action()
        if action == "ReceiveMessage":
            return original_call(self)  # it takes the lock for each look at the queue
        with _sqs_lock:
            response = original_call(self)
            lsn = _logged(response, action, _SQS_WRITE_ACTIONS, self)
        return _answered_when_durable(response, lsn)

    def receive_message(
        self: Any, queue_name: str, count: int, wait_seconds_timeout: int, *args: Any, **kwargs: Any
    ) -> Any:
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with _sqs_lock:
                received = original_receive(self, queue_name, count, 0, *args, **kwargs)
            if received or time.monotonic() >= deadline:
                return received
            time.sleep(_RECEIVE_LOOK_SECONDS)

    SQSResponse.call_action = call_action  # type: ignore[method-assign]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def _copy_each_table_once_per_transaction() -> None:
    """moto backs up every table a transaction touches (a deep copy, for each of its actions) so that it can roll
    back when a condition fails part-way: a write into a big table, or a burst of writers to one session, spent its
    time copying. Here item sizes and conditions are judged first, as DynamoDB judges them, and a transaction that
    fails them is refused before anything is written, so none is copied. (moto checks an item's size only while
    writing it: a transaction with an item over the limit left its earlier actions written.)"""
    from moto.dynamodb import models
    from moto.dynamodb.exceptions import ItemSizeTooLarge, TransactionCanceledException

    original = models.DynamoDBBackend.transact_write_items

    def no_copy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, models.Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if any(_item_size(action["Put"]["Item"]) > _MOTO_ITEM_BYTES for action in transact_items if "Put" in action):
            raise ItemSizeTooLarge  # DynamoDB's ValidationException, for the whole transaction
        refused = _failed_conditions(self, transact_items)
        if refused is not None:
            raise TransactionCanceledException(refused)
        models.copy = SimpleNamespace(deepcopy=no_copy)  # type: ignore[assignment]
        try:
            original(self, transact_items)
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# moto refuses an item over 405,000 bytes as it writes it (DynamoDB's own limit lies between 409 and 410 KB).
_MOTO_ITEM_BYTES = 405_000


def _item_size(item: dict[str, Any]) -> int:
    """An item's size as moto counts it when it writes the item: attribute names and values, in UTF-8."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    return sum(len(name.encode()) + DynamoType(value).size() for name, value in item.items())


def _failed_conditions(backend: Any, transact_items: list[dict[str, Any]]) -> list[Any] | None:
    """The cancellation reasons of a transaction whose conditions do not all hold, judged on the table as it is
    (as DynamoDB judges them: one action per item, so the transaction's own writes cannot change the answer), or
    None when they all hold. Under contention most transactions fail here, and moto's rollback copy (the whole
    table, every time) is what made a burst of writers to one session slow."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import ConditionalCheckFailed

    reasons: list[Any] = []
    for action in transact_items:
        kind, operation = next(iter(action.items()))
        condition = operation.get("ConditionExpression")
        holds, item = True, None
        if condition is not None and operation.get("TableName") in backend.tables:
            table = backend.tables[operation["TableName"]]
            if kind == "Put":
                key = {table.hash_key_attr: operation["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = operation["Item"][table.range_key_attr]
            else:
                key = operation["Key"]
            current = backend.get_item(operation["TableName"], key)
            names, values = operation.get("ExpressionAttributeNames"), operation.get("ExpressionAttributeValues")
            holds = get_filter_expression(condition, names, values).expr(current)
            # as DynamoDB does, the item as it stands goes with a failed condition that asks for it
            if not holds and current is not None and operation.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                item = current.to_json()["Attributes"]
        reasons.append(
            (None, None, None) if holds else ("ConditionalCheckFailed", ConditionalCheckFailed().message, item)
        )
    return reasons if any(code is not None for code, _, _ in reasons) else None


BEDROCK_NOT_REACHABLE = (
    "Bedrock is not reachable in local mode: start the server with AGENTCTX_BEDROCK=1 (`make serve "
    "AGENTCTX_BEDROCK=1`) to send Bedrock models' calls to Bedrock with your AWS credentials"
)
_bedrock_refused = False


def _refuse_bedrock_unless_let_through(**kwargs: Any) -> None:
    """Every Bedrock runtime call, whatever its endpoint, before it is sent: refused while an embedded AWS runs
    that does not let Bedrock through (moto has no Bedrock to answer it), so no call leaves the machine."""
    if _bedrock_refused:
        from agentctx.providers.base import ProviderError

        raise ProviderError("unavailable", BEDROCK_NOT_REACHABLE)


@cache
def _answer_bedrock_here() -> None:
    """Bedrock's calls pass moto by (`passthrough`); this handler, in every botocore session made from now on (as
    moto registers its own), decides whether they go on."""
    from botocore.handlers import BUILTIN_HANDLERS

    BUILTIN_HANDLERS.append(("before-send.bedrock-runtime", _refuse_bedrock_unless_let_through))


@contextmanager
def local_aws(names: dict[str, str], bedrock: bool = False) -> Iterator[dict[str, str]]:
    """moto for the duration, with the template's tables, buses, queues and vector indexes under the given names
    (logical id -> name); yields the queues' URLs by logical id.

    - The vector indexes have the dimensions of the settings (EMBEDDING_DIMENSIONS, 256 by default: the local
      model's) and answer QueryVectors by exact search (infra/local_vectors.py).

    - Bedrock's runtime calls go to Bedrock, signed with the credentials botocore finds, when `bedrock` is true; they
      are refused with a ProviderError naming AGENTCTX_BEDROCK otherwise.
    """
    global _bedrock_refused
    import boto3
    from moto import mock_aws

    from agentctx.settings import get_settings

    _answer_bedrock_here()
    _apply_dynamodb_requests_one_at_a_time()
    answer_query_vectors()
    config: DefaultConfig = {
        "core": {
            # moto drops boto3's default session on every start by default; a new one reloads botocore's endpoint and
            # service data (~0.4 s for the first clients), which the tests, starting one embedded AWS each, paid each
            # time.
            "reset_boto3_session": False,
            # moto's stand-in credentials would replace the caller's, which Bedrock's calls need.
            "mock_credentials": not bedrock,
            "passthrough": {"services": ["bedrockruntime"], "urls": []},
        }
    }
    _bedrock_refused = not bedrock
    try:
        with mock_aws(config=config):
            create_tables(boto3.client("dynamodb"), names)
            create_event_buses(boto3.client("events"), names)
            create_vector_indexes(boto3.client("s3vectors"), names, get_settings().embedding_dimensions)
            yield create_queues(boto3.client("sqs"), names)
    finally:
        _bedrock_refused = False
