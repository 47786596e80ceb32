"""Public identifiers.

A session id is `sess_` + 32 lowercase hex (128 random bits; the agent-runtime surface shows the same hex as
`session_...`, and accepts either). Agent and model ids are `agent_`/`model_` + 32 hex; the dashed UUID form of the
same 128 bits (`agent_01234567-89ab-...`, as the agent-runtime guide writes them) is read as the same id. An event
id is `event_` + 16 hex of its session + its 16-hex sequence number, so `since_id` needs no lookup.
A block id is `blk_` + the session's hex + a 26-character time-ordered key (48 bits of
milliseconds, 80 random bits), so a block is found with one strongly consistent read and blocks sort in the
order they were appended.
"""

import hashlib
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
RUNTIME_SESSION_PREFIX = "session_"
EVENT_PREFIX = "event_"
TURN_PREFIX = "turn_"
MESSAGE_PREFIX = "message_"
TOOL_CALL_PREFIX = "toolcall_"
_SESSION_ID = re.compile(r"^(?:sess_|session_)([0-9a-f]{32})$")
_BLOCK_ID = re.compile(r"^blk_([0-9a-f]{32})([0-9a-hjkmnp-tv-z]{26})$")

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
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


def order_key_after(previous: str) -> str:
    """A new order key that sorts after `previous` whatever this machine's clock says: the writer of a
    sequence (a session's input messages) passes the last key it committed."""
    key = new_order_key()
    if not previous or key > previous:
        return key
    value = 0
    for char in previous:
        value = value * 32 + _CROCKFORD.index(char)
    return _encode(value + 1, 26)


def block_id(session_hex: str, order_key: str) -> str:
    return f"{BLOCK_PREFIX}{session_hex}{order_key}"


def parse_session_id(value: str) -> str | None:
    """The session's hex, or None when the value is not a session id."""
    match = _SESSION_ID.match(value)
    return match.group(1) if match else None


def parse_prefixed_hex(value: str, prefix: str) -> str | None:
    """The 32 hex after the prefix (`model_`, `agent_`), or None when the value is not such an id."""
    rest = value[len(prefix) :] if value.startswith(prefix) else ""
    if _UUID.match(rest):
        rest = rest.replace("-", "").lower()
    return rest if _HEX32.match(rest) else None


def event_id(session_hex: str, sequence: int) -> str:
    return f"{EVENT_PREFIX}{session_hex[:16]}{sequence:016x}"


def parse_event_id(value: str, session_hex: str) -> int | None:
    """The sequence number of an event id of this session, or None when the value is not one."""
    rest = value[len(EVENT_PREFIX) :] if value.startswith(EVENT_PREFIX) else ""
    if not _HEX32.match(rest) or rest[:16] != session_hex[:16]:
        return None
    return int(rest[16:], 16)


def parse_order_id(value: str, prefix: str) -> str | None:
    """The order key of an id made of a prefix and 26 time-ordered characters (`inv_...`, `cmp_...`), or None."""
    rest = value[len(prefix) :] if value.startswith(prefix) else ""
    return rest if _ORDER_KEY.match(rest) else None


def order_key_at_seeded(reference: str, seed: str) -> str:
    """A key in the same millisecond as `reference`, so it sorts beside it, and the same for the same seed: a write
    that may be retried finds what it wrote."""
    digest = hashlib.sha256(seed.encode()).digest()
    return reference[:10] + _encode(int.from_bytes(digest[:10], "big"), 16)


def parse_block_id(value: str) -> tuple[str, str] | None:
    """(session hex, order key), or None when the value is not a block id."""
    match = _BLOCK_ID.match(value)
    return (match.group(1), match.group(2)) if match else None
