"""Limits on the free-form JSON a client may store (message metadata, model options, capability configs, block
content), checked at the edge before anything is written: a value that passes can always be read back and
serialised (pydantic refuses to serialise beyond about 250 levels, and DynamoDB nests at most 32)."""

import json
from typing import Any

from pydantic import AfterValidator

MAX_JSON_DEPTH = 32


def json_depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def check_json(value: Any, max_bytes: int) -> Any:
    depth = json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nests {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > max_bytes:
        raise ValueError(f"is {size} bytes as JSON; at most {max_bytes} are allowed")
    return value


def bounded_json(max_bytes: int) -> AfterValidator:
    """A field validator: at most MAX_JSON_DEPTH levels and `max_bytes` bytes of JSON."""
    return AfterValidator(lambda value: check_json(value, max_bytes))


# Metadata, options and configs: small objects that ride along with every read of their record.
SMALL_JSON = bounded_json(16_384)
