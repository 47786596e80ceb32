"""The one check on the free-form JSON a client may store (message metadata and controls, model options, capability
configs, attachments, block content), made at the edge before anything is written: a value that passes can always
be stored and read back.

- at most MAX_JSON_DEPTH levels: pydantic refuses to serialise beyond about 250, DynamoDB nests at most 32;
- text that UTF-8 can encode: a lone surrogate (`"\\udc00"`, valid JSON, not valid Unicode) would be stored and then
  break every response that carries it;
- finite numbers: NaN and Infinity parse in Python but are not JSON, so a client could not read them back;
- at most a size in bytes of compact UTF-8 JSON, where the field has one (block content is sized, with 413, against
  the configured block limit when the block is built).
"""

import json
from typing import Annotated, Any

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


def check_json(value: Any, max_bytes: int | None) -> Any:
    """`value` when it may be stored (see the module's list); otherwise a ValueError saying why."""
    depth = json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nests {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed")
    try:
        # sized as the store writes it (store/dynamo.py dump_json): compact, UTF-8
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())
    except UnicodeEncodeError:
        raise ValueError("holds text that is not valid Unicode (a lone surrogate such as \\udc00)") from None
    except ValueError:
        raise ValueError("holds a number that JSON cannot carry (NaN or Infinity)") from None
    if max_bytes is not None and size > max_bytes:
        raise ValueError(f"is {size} bytes as JSON; at most {max_bytes} are allowed")
    return value


def bounded_json(max_bytes: int | None) -> AfterValidator:
    """A field validator: JSON that may be stored, of at most `max_bytes` bytes (None: sized elsewhere)."""
    return AfterValidator(lambda value: check_json(value, max_bytes))


# Metadata, options, configs and controls: small values that ride along with every read of their record.
SMALL_JSON = bounded_json(16_384)
# Every free-form field of a request model is one of these, so every one is checked the same way.
FreeJson = Annotated[Any, SMALL_JSON]
FreeObject = Annotated[dict[str, Any], SMALL_JSON]
# Block content: sized against the block limit when the block is built (413), not here.
ContentJson = Annotated[Any, bounded_json(None)]
