"""What fits in one Lambda invocation: a buffered response and a request are each at most 6 MB of payload (API
Gateway's own cap is 10 MB), counted as the JSON of the whole event or result, where the body is one escaped string.

- A listing stops adding items before their bytes would pass RESPONSE_BYTES_BUDGET, and says so with a cursor.
- A request body over REQUEST_BYTES_CAP is refused (413) before any route runs.
Both leave about 1 MB for headers, the envelope and the rest of the event.
"""

import json
from collections.abc import Iterable

RESPONSE_BYTES_BUDGET = 5_000_000
REQUEST_BYTES_CAP = 5_000_000


def payload_bytes(text: str) -> int:
    """Bytes `text` takes inside a Lambda payload: as a JSON string, quotes and backslashes escaped and anything
    beyond ASCII as a \\u escape (the most the runtime's encoder makes of it)."""
    return len(json.dumps(text))


def json_payload_bytes(value: object) -> int:
    """Bytes a JSON value takes inside a Lambda payload, written as a response body carries it."""
    return payload_bytes(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def within_budget(sizes: Iterable[int], budget: int) -> int:
    """How many of the items, in order, fit in `budget` bytes: at least one, so a page always makes progress."""
    total = count = 0
    for size in sizes:
        total += size
        if total > budget and count:
            break
        count += 1
    return count
