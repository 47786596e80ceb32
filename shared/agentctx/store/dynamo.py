"""The DynamoDB client, created on first use and kept per container, and item (de)serialisation."""

import random
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
R = TypeVar("R")

# DynamoDB accepts at most 100 actions and 4 MB in one transaction, and 25 items in one BatchWriteItem.
MAX_TRANSACTION_ACTIONS = 100
MAX_TRANSACTION_BYTES = 3_500_000
BATCH_WRITE_SIZE = 25
BATCH_GET_SIZE = 100


@lru_cache(maxsize=1)
def dynamodb_client() -> Any:
    import boto3

    return boto3.client(
        "dynamodb",
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10),
    )


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(_to_dynamo(value)) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _from_dynamo(_deserializer.deserialize(value)) for key, value in item.items()}


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def cancellation_codes(error: ClientError) -> list[str]:
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def is_transaction_conflict(error: ClientError) -> bool:
    code = error.response["Error"]["Code"]
    if code == "TransactionConflictException":
        return True
    return code == "TransactionCanceledException" and "TransactionConflict" in cancellation_codes(error)


def with_conflict_retry(operation: Callable[[], R], attempts: int = 8) -> R:
    """Run a transaction again when another transaction held one of its items (DynamoDB cancels, never waits)."""
    for attempt in range(attempts):
        try:
            return operation()
        except ClientError as error:
            if not is_transaction_conflict(error) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")


def chunks(values: list[R], size: int) -> Iterator[list[R]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def batch_write(table: str, requests: list[dict[str, Any]]) -> None:
    """BatchWriteItem in groups of 25, sending unprocessed items again until all are written."""
    client = dynamodb_client()
    for group in chunks(requests, BATCH_WRITE_SIZE):
        pending = {table: group}
        attempt = 0
        while pending:
            response = client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if pending:
                attempt += 1
                time.sleep(min(1.0, 0.02 * 2**attempt))


def batch_get(table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BatchGetItem in groups of 100 with consistent reads; unprocessed keys are asked for again."""
    client = dynamodb_client()
    found: list[dict[str, Any]] = []
    for group in chunks(keys, BATCH_GET_SIZE):
        pending: dict[str, Any] = {table: {"Keys": group, "ConsistentRead": True}}
        attempt = 0
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            found.extend(response["Responses"].get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if pending:
                attempt += 1
                time.sleep(min(1.0, 0.02 * 2**attempt))
    return found
