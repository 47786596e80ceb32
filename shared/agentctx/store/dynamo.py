"""The DynamoDB client, created on first use and kept per container, and item (de)serialisation.

The client comes from botocore directly: importing boto3 also imports s3transfer (and multiprocessing), about
50 ms of every cold start for nothing this service uses. For the same reason items are converted here rather
than with boto3.dynamodb.types; tests/unit/test_dynamo.py checks both give the same wire format.
"""

import json
import random
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError

from agentctx.errors import Busy, PayloadTooLarge

R = TypeVar("R")

# DynamoDB accepts at most 100 actions and 4 MB in one transaction, and 25 items in one BatchWriteItem.
MAX_TRANSACTION_ACTIONS = 100
MAX_TRANSACTION_BYTES = 3_500_000
BATCH_WRITE_SIZE = 25
BATCH_GET_SIZE = 100
# DynamoDB refuses an item over 400 KB, counted in UTF-8 (attribute names too). Checked here before every write, so
# a request that would hit it is a 413 that writes nothing (a refused item in a BatchWriteItem would otherwise leave
# the batch half written). The decimal 400,000 errs on the safe side of both AWS and moto (which refuses at 405,000).
MAX_ITEM_BYTES = 400_000


@lru_cache(maxsize=1)
def dynamodb_client() -> Any:
    import botocore.session

    client = botocore.session.get_session().create_client(
        "dynamodb",
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10),
    )
    for operation in ("PutItem", "TransactWriteItems", "BatchWriteItem"):
        client.meta.events.register(f"provide-client-params.dynamodb.{operation}", refuse_oversized_items)
    return client


def attribute_size(value: dict[str, Any]) -> int:
    """An attribute value's size as DynamoDB counts it: strings in UTF-8, numbers at most their text, and 3 bytes
    for a map or list plus 1 for each element."""
    ((kind, data),) = value.items()
    if kind in ("S", "N", "B"):
        return len(data.encode() if isinstance(data, str) else data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(key.encode()) + attribute_size(item) + 1 for key, item in data.items())
    if kind == "L":
        return 3 + sum(attribute_size(item) + 1 for item in data)
    return sum(len(item.encode() if isinstance(item, str) else item) for item in data)  # SS, NS, BS


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it against its 400 KB limit: names and values, in UTF-8."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def refuse_oversized_items(params: dict[str, Any], **_: Any) -> None:
    """Before a write is sent: PayloadTooLarge when one of its items is over MAX_ITEM_BYTES, so nothing is written."""
    items = [params["Item"]] if "Item" in params else []
    items += [action["Put"]["Item"] for action in params.get("TransactItems", []) if "Put" in action]
    items += [
        request["PutRequest"]["Item"]
        for requests in params.get("RequestItems", {}).values()
        for request in requests
        if "PutRequest" in request
    ]
    largest = max(map(item_size, items), default=0)
    if largest > MAX_ITEM_BYTES:
        raise PayloadTooLarge(
            f"a record of {largest} bytes would be stored; DynamoDB holds at most {MAX_ITEM_BYTES} bytes an item",
            {"limitBytes": MAX_ITEM_BYTES, "sizeBytes": largest},
        )


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values to DynamoDB attribute values; None values are left out."""
    return {key: serialize(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: deserialize(value) for key, value in item.items()}


def _number(value: int | float | Decimal) -> str:
    return str(Decimal(str(value)) if isinstance(value, float) else value)


def serialize(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float | Decimal):
        return {"N": _number(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {str(key): serialize(item) for key, item in value.items()}}
    if isinstance(value, set | frozenset):
        if all(isinstance(item, str) for item in value):
            return {"SS": sorted(value)}
        return {"NS": sorted(_number(item) for item in value)}
    if isinstance(value, list | tuple):
        return {"L": [serialize(item) for item in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def deserialize(value: dict[str, Any]) -> Any:
    ((kind, data),) = value.items()
    if kind in ("S", "BOOL"):
        return data
    if kind == "N":
        number = Decimal(data)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: deserialize(item) for key, item in data.items()}
    if kind == "L":
        return [deserialize(item) for item in data]
    if kind == "SS":
        return set(data)
    if kind == "NS":
        return {deserialize({"N": item}) for item in data}
    raise TypeError(f"unexpected DynamoDB type {kind}")


def cancellation_codes(error: ClientError) -> list[str]:
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def is_transaction_conflict(error: ClientError) -> bool:
    code = error.response["Error"]["Code"]
    if code == "TransactionConflictException":
        return True
    return code == "TransactionCanceledException" and "TransactionConflict" in cancellation_codes(error)


def with_conflict_retry(operation: Callable[[], R], attempts: int = 8) -> R:
    """Run a transaction again when another transaction held one of its items (DynamoDB cancels, never waits);
    Busy when other transactions still held them on the last attempt, since the same request can pass a moment
    later."""
    for attempt in range(attempts):
        try:
            return operation()
        except ClientError as error:
            if not is_transaction_conflict(error):
                raise
            if attempt == attempts - 1:
                raise Busy("the items this request writes are being written by others; try again") from error
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")


def chunks(values: list[R], size: int) -> Iterator[list[R]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def batch_write(table: str, requests: list[dict[str, Any]]) -> float:
    """BatchWriteItem in groups of 25, sending unprocessed items again until all are written; the write capacity
    units consumed (as DynamoDB reports them, and at least one per item)."""
    client = dynamodb_client()
    units = 0.0
    for group in chunks(requests, BATCH_WRITE_SIZE):
        pending = {table: group}
        attempt = 0
        while pending:
            response = client.batch_write_item(RequestItems=pending, ReturnConsumedCapacity="TOTAL")
            reported = [usage.get("CapacityUnits") for usage in response.get("ConsumedCapacity", [])]
            unprocessed = response.get("UnprocessedItems") or {}
            written = len(pending[table]) - len(unprocessed.get(table, []))
            units += max(sum(unit for unit in reported if unit), written)  # each item takes one unit at least
            pending = unprocessed
            if pending:
                attempt += 1
                time.sleep(min(1.0, 0.02 * 2**attempt))
    return units


def batch_get(table: str, keys: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    """BatchGetItem in groups of 100 with consistent reads (and `options` such as a ProjectionExpression);
    unprocessed keys are asked for again."""
    client = dynamodb_client()
    found: list[dict[str, Any]] = []
    for group in chunks(keys, BATCH_GET_SIZE):
        pending: dict[str, Any] = {table: {"Keys": group, "ConsistentRead": True, **options}}
        attempt = 0
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            found.extend(response["Responses"].get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if pending:
                attempt += 1
                time.sleep(min(1.0, 0.02 * 2**attempt))
    return found


# Stored JSON deeper than this is cut when read: the write limit (schemas/limits.py) is 32 levels, so only what an
# older version stored can reach it, and it must still read (pydantic cannot serialise beyond about 250 levels).
MAX_READ_DEPTH = 64


def dump_json(value: Any) -> str:
    """`value` as the JSON text a record stores: compact, non-ASCII as it is (DynamoDB counts UTF-8 bytes, and the
    `\\u` escapes of json.dumps' default would make a CJK character 6 bytes instead of 3, an emoji 12 instead of 4).
    load_json reads it, and records written with escapes before."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def load_json(text: str) -> Any:
    """A stored JSON value, with anything nested beyond MAX_READ_DEPTH replaced by a note saying so, and any lone
    surrogate (which an older version stored as a `\\udXXX` escape, and which no response can encode) by U+FFFD."""
    value = json.loads(text)
    deep = text.count("{") + text.count("[") >= MAX_READ_DEPTH  # fewer brackets cannot nest that deep
    escaped = "\\ud" in text or "\\uD" in text  # only an escape can carry a surrogate, lone or in a pair
    return _repair(value, MAX_READ_DEPTH if deep else None, escaped) if deep or escaped else value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins a valid pair into one character


def _repair(value: Any, levels: int | None, escaped: bool) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if escaped else value
    if not isinstance(value, dict | list):
        return value
    if levels == 0:
        return "[nested too deeply to show]"
    below = None if levels is None else levels - 1
    if isinstance(value, dict):
        return {_repair(key, None, escaped): _repair(item, below, escaped) for key, item in value.items()}
    return [_repair(item, below, escaped) for item in value]
