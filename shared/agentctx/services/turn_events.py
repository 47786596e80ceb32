"""Writing a turn's events to its session's event log: batched output deltas, every write guarded so a turn that
was cancelled or finished meanwhile stops, and the turn's last events, which finish it."""

import time
from dataclasses import dataclass, field
from typing import Any

from agentctx import metering
from agentctx.domain import Block, Session, SessionStatus, utc_now
from agentctx.services.auto_compaction import AutoCompactionTrigger
from agentctx.services.event_append import Append, append_with_retry
from agentctx.services.message_text import preview
from agentctx.services.token_usage import runtime_usage
from agentctx.store.context_store import ContextStore
from agentctx.store.event_log import SessionChanges
from agentctx.store.transactions import AutoCompaction

# Output deltas are written in batches: at most this many, or as old as this, whichever comes first.
DELTA_BATCH = 32
DELTA_BATCH_SECONDS = 0.1


class TurnStopped(Exception):
    """The turn cannot go on: it was cancelled, or it had already finished (a redelivered message)."""

    def __init__(self, cancelled: bool) -> None:
        super().__init__("cancelled" if cancelled else "finished")
        self.cancelled = cancelled


@dataclass
class TurnInput:
    """One turn of a session: its number and its input message (the session's turn item)."""

    tenant_id: str
    session_hex: str
    seq: int
    order_key: str
    turn_id: str
    message_id: str

    def event_context(self) -> dict[str, str]:
        """What each of its events carries as `context` (and some as data too)."""
        return {"turn_id": self.turn_id, "input_message_id": self.message_id}


@dataclass
class EventWriter:
    """Appends a turn's events to the session's log, batching output deltas; every append also checks the turn
    was neither cancelled nor finished meanwhile (TurnStopped when it was)."""

    store: ContextStore
    session: Session
    job: TurnInput
    auto_compaction: AutoCompactionTrigger | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    flushed_at: float = 0.0
    first_delta_pending: bool = False

    def add(self, event_type: str, data: dict[str, Any]) -> None:
        """Queue an event for the next flush."""
        self.pending.append({"type": event_type, "ts": utc_now(), "context": self.job.event_context(), "data": data})

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """Queue an event and write it now, except what can wait: `output.message.started` goes out with the first
        delta, which is written at once (what a client waits for), and later deltas go in batches."""
        self.add(event_type, data)
        if event_type == "output.message.started":
            self.first_delta_pending = True
            return
        if event_type != "output.message.delta" or self.first_delta_pending:
            self.first_delta_pending = False
            self.flush()
        elif len(self.pending) >= DELTA_BATCH or time.monotonic() - self.flushed_at >= DELTA_BATCH_SECONDS:
            self.flush()

    def flush(self, changes: SessionChanges | None = None, stopping: bool = False, **writes: Any) -> None:
        """Write what is pending. `stopping` (the events that end a cancelled turn) skips the cancel guard."""
        if not self.pending and changes is None:
            return
        changes = changes or SessionChanges()
        changes.turn_seq = self.job.seq
        changes.allow_cancelled = stopping
        blocks: list[Block] = writes.get("blocks") or []
        auto: AutoCompaction | None = None

        def with_pending(read: Session) -> Append:
            nonlocal auto
            auto = self._auto_compaction_for(blocks)
            return Append(self.pending, utc_now(), changes, auto=auto, **writes)

        def still_running(fresh: Session) -> None:
            """Overtaken: the turn goes on unless it was finished, or cancelled, meanwhile."""
            self.session.auto_headroom = fresh.auto_headroom
            self.session.auto_compaction_pending = fresh.auto_compaction_pending
            if fresh.turns.done >= self.job.seq:
                raise TurnStopped(cancelled=False)
            if fresh.turns.cancelled_through >= self.job.seq and not stopping:
                raise TurnStopped(cancelled=True)

        append_with_retry(self.store, self.session, with_pending, still_running)  # a busy log: the queue retries
        self.pending = []
        self.flushed_at = time.monotonic()
        metering.add(storedTokens=sum(block.token_count for block in blocks))
        if auto is not None and self.auto_compaction is not None:
            self.auto_compaction.queued(self.job.tenant_id, self.job.session_hex, auto)

    def finish(
        self,
        event_type: str,
        data: dict[str, Any],
        usage: dict[str, int],
        blocks: list[Block] | None = None,
        messages: list[dict[str, Any]] | None = None,
        output: str = "",
    ) -> None:
        """The turn's last events, with the session idle again and the turn counted as done."""
        now = utc_now()
        turn_usage = {"context_tokens": usage["contextTokens"]} | runtime_usage(usage)
        self.add(event_type, data | {"usage": turn_usage, "turn_id": self.job.turn_id})
        self.add("session.idled", {"status": SessionStatus.IDLE.value, "turn_id": self.job.turn_id})
        changes = SessionChanges(
            set={"status": SessionStatus.IDLE.value, "turnsDone": self.job.seq, "finishedAt": now},
            add={
                "inputTokensUsed": usage["inputTokens"],
                "outputTokensUsed": usage["outputTokens"],
                "cacheReadTokensUsed": usage["cacheReadInputTokens"],
                "cacheWriteTokensUsed": usage["cacheWriteInputTokens"],
            }
            # only a priced model's turn adds a cost, so a session that never ran one has none
            | ({"costMicroUsdUsed": usage["costMicroUsd"]} if "costMicroUsd" in usage else {}),
            remove=["activeTurn"],
        )
        if output:
            changes.set["outputPreview"] = preview(output)
        try:
            self.flush(changes, stopping=True, blocks=blocks or [], messages=messages or [])
        except TurnStopped:
            return  # another delivery of this turn finished it first

    def _auto_compaction_for(self, blocks: list[Block]) -> AutoCompaction | None:
        """The automatic compaction to queue with these blocks: when they take the session past its threshold (as
        last read) and none is pending. The write's own condition settles a race with another writer."""
        added = sum(block.token_count for block in blocks)
        session = self.session
        if not self.auto_compaction or not added or session.auto_compaction_pending or session.auto_headroom >= added:
            return None
        return self.auto_compaction.plan(session.hex)
