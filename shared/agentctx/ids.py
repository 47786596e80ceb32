"""Public identifiers.

A session id is `sess_` + 32 lowercase hex (128 random bits; the agent-runtime surface shows the same hex as
`session_...`). A block id is `blk_` + the session's hex + a 26-character time-ordered key (48 bits of
milliseconds, 80 random bits), so a block is found with one strongly consistent read and blocks sort in the
order they were appended.
"""

import os
import re
import secrets
import threading
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
SESSION_PREFIX = "sess_"
BLOCK_PREFIX = "blk_"
MODEL_PREFIX = "model_"
AGENT_PREFIX = "agent_"
INVOCATION_PREFIX = "inv_"
COMPACTION_PREFIX = "cmp_"
_SESSION_ID = re.compile(r"^sess_([0-9a-f]{32})$")
_BLOCK_ID = re.compile(r"^blk_([0-9a-f]{32})([0-9a-hjkmnp-tv-z]{26})$")

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_ORDER_KEY = re.compile(r"^[0-9a-hjkmnp-tv-z]{26}$")

_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def new_hex() -> str:
    return secrets.token_hex(16)


def new_session_id() -> str:
    return SESSION_PREFIX + new_hex()


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_order_key() -> str:
    """A 26-character key that sorts by creation time and is strictly increasing within this process."""
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _last_random = (_last_random + 1) % (1 << 80)
        else:
            _last_ms = now_ms
            _last_random = int.from_bytes(os.urandom(10), "big")
        return _encode(now_ms, 10) + _encode(_last_random, 16)


def block_id(session_hex: str, order_key: str) -> str:
    return f"{BLOCK_PREFIX}{session_hex}{order_key}"


def parse_session_id(value: str) -> str | None:
    """The session's hex, or None when the value is not a session id."""
    match = _SESSION_ID.match(value)
    return match.group(1) if match else None


def parse_prefixed_hex(value: str, prefix: str) -> str | None:
    """The 32 hex after the prefix (`model_`, `agent_`), or None when the value is not such an id."""
    rest = value[len(prefix) :] if value.startswith(prefix) else ""
    return rest if _HEX32.match(rest) else None


def parse_order_id(value: str, prefix: str) -> str | None:
    """The order key of an id made of a prefix and 26 time-ordered characters (`inv_...`, `cmp_...`), or None."""
    rest = value[len(prefix) :] if value.startswith(prefix) else ""
    return rest if _ORDER_KEY.match(rest) else None


def order_key_at(reference: str) -> str:
    """A fresh key in the same millisecond as `reference`, so it sorts beside it."""
    return reference[:10] + _encode(int.from_bytes(os.urandom(10), "big"), 16)


def parse_block_id(value: str) -> tuple[str, str] | None:
    """(session hex, order key), or None when the value is not a block id."""
    match = _BLOCK_ID.match(value)
    return (match.group(1), match.group(2)) if match else None
