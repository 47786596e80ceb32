"""Appending to a session's event log, which other writers (messages posted at once, a running turn, a cancel)
append to as well: each append is conditioned on the event sequence last read, so a writer that was overtaken builds
its write anew from the session as its refused write found it."""

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from agentctx.domain import Block, Session
from agentctx.errors import Busy
from agentctx.store.context_store import ContextStore
from agentctx.store.event_log import SessionChanges, SessionMoved
from agentctx.store.transactions import AutoCompaction

# How long a writer keeps re-reading the session when other writers appended events first, with a short random
# backoff between attempts: a burst of writers to one session settles instead of colliding again at once.
APPEND_SECONDS = 10.0


@dataclass
class Append:
    """One attempt's write: events and what goes with them in the same transaction (store/event_log.py)."""

    events: list[dict[str, Any]]
    now: str
    changes: SessionChanges | None = None
    blocks: list[Block] | None = None
    messages: list[dict[str, Any]] | None = None
    auto: AutoCompaction | None = None
    turn_entry: dict[str, Any] | None = None


def append_with_retry(
    store: ContextStore,
    session: Session,
    attempt: Callable[[Session], Append],
    refreshed: Callable[[Session], None] | None = None,
) -> list[dict[str, Any]]:
    """Write `attempt(session)` after the session's event sequence as last read; the stamped events.

    - Overtaken by another writer, it takes the session as the refused write found it (its turns), shows it to
      `refreshed` (which may raise to give up), waits a moment and writes a new attempt built from it, for
      APPEND_SECONDS: one call per attempt, the refused write itself.
    - SessionGone (a NotFound) once the session is gone; Conflict when the log stayed busy for the whole window.
    - On success the session's event sequence is past the written events.
    """
    for number in _attempts():
        write = attempt(session)
        try:
            stamped = store.events.append(
                session.tenant_id,
                session.hex,
                session.turns.event_seq,
                write.events,
                write.now,
                write.changes,
                blocks=write.blocks,
                messages=write.messages,
                auto=write.auto,
                turn_entry=write.turn_entry,
            )
        except SessionMoved as moved:
            fresh = moved.session
        else:
            session.turns.event_seq += len(stamped)
            return stamped
        session.turns = fresh.turns
        if refreshed is not None:
            refreshed(fresh)
        _backoff(number)
    raise Busy("the session's event log is too busy; try again")


def _attempts() -> Iterator[int]:
    """Attempt numbers: the first always, more until APPEND_SECONDS have passed."""
    deadline = time.monotonic() + APPEND_SECONDS
    attempt = 0
    while attempt == 0 or time.monotonic() < deadline:
        yield attempt
        attempt += 1


def _backoff(attempt: int) -> None:
    """Sleep before the next attempt: random, growing with the attempts, at most about 50 ms."""
    time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
