"""The seed's harness and model, and the SDK's coroutines run with a deadline."""

import asyncio
import time

from everruns_sdk import Everruns

HARNESS_ID = "harness_00000000000000000000000000000001"
DEFAULT_MODEL_ID = "model_00000000000000000000000000000001"


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


async def until_turn_ends(client: Everruns, session_id: str, turns: int = 1) -> list:  # type: ignore[type-arg]
    """The session's events once `turns` turns have ended, read with the SDK's forward cursor."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = await client.events.list(session_id, after_sequence=0)
        if sum(e.type in ("turn.completed", "turn.failed", "turn.cancelled") for e in events) >= turns:
            return events
        await asyncio.sleep(0.05)
    raise AssertionError("the turn did not end")
