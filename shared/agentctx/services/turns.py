"""A turn: the agent's answer to one input message, run by the turn function from the FIFO turn queue.

Reason (a model call with the context assembled from the session), act (the tools of the session's
capabilities), reason again, until the model answers without tools or the step limit. Every step appends to the
session's event log; the turn's blocks (tool results, the output) and its output message are written with its
last events, in one transaction, so a turn is either finished with all of that or not finished at all.

Order and exactly once: turns are numbered in the order their input messages committed (services/runtime_messages.py). A
job says "run this session's turns up to n"; the function runs the session's next unfinished turn (`turnsDone` + 1)
and goes on until n, so the order never depends on which job reached the queue first, and a job whose send was
lost is covered by any later one (and by the stream's dispatch). Every write of turn n is conditioned on turn n - 1
being the last finished, and its final write finishes it, so it finishes once.

Durability: the queue delivers a job again when the function fails (a crash, a timeout, an AWS error); a turn cut
off runs again from the start, after a second `turn.started` (with `attempt`, counted on the session). The attempt
that reaches TURN_MAX_ATTEMPTS ends the turn with `turn.failed` on failure, so a session never stays active for
good and the turns behind it run.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentctx import ids, metering
from agentctx.capabilities import ToolScope
from agentctx.capabilities.base import SessionFiles
from agentctx.domain import Block, BlockType, Session, SessionStatus, utc_now
from agentctx.errors import NotFound
from agentctx.observability import logger
from agentctx.providers.base import ProviderError, ToolUse
from agentctx.schemas import BlockIn
from agentctx.services.auto_compaction import AutoCompactionTrigger
from agentctx.services.catalog import with_controls
from agentctx.services.context import ContextAssembler, Selection
from agentctx.services.event_append import Append, append_with_retry
from agentctx.services.invocations import (
    InvocationService,
    InvokeCommand,
    PreparedInvocation,
    StreamEvent,
    render_system,
    tools_of,
)
from agentctx.services.runtime_messages import preview, public_message, text_of
from agentctx.services.session_agent import agent_of, merge_capabilities
from agentctx.store.context_store import ContextStore
from agentctx.store.event_log import SessionChanges
from agentctx.store.transactions import AutoCompaction, SessionGone
from agentctx.tokens import count_tokens
from agentctx.turn_jobs import TurnJob

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
        self.pending.append(
            {
                "type": event_type,
                "ts": utc_now(),
                "context": {"turn_id": self.job.turn_id, "input_message_id": self.job.message_id},
                "data": data,
            }
        )

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

    def _auto_compaction_for(self, blocks: list[Block]) -> AutoCompaction | None:
        """The automatic compaction to queue with these blocks: when they take the session past its threshold (as
        last read) and none is pending. The write's own condition settles a race with another writer."""
        added = sum(block.token_count for block in blocks)
        session = self.session
        if not self.auto_compaction or not added or session.auto_compaction_pending or session.auto_headroom >= added:
            return None
        return self.auto_compaction.plan(session.hex)


class TurnService:
    def __init__(
        self,
        store: ContextStore,
        invocations: InvocationService,
        assembler: ContextAssembler,
        files_for: Callable[[str, str], SessionFiles],
        dispatch: Callable[[TurnJob, str], None],
        max_attempts: int,
        seconds_per_turn: float = 300.0,
    ) -> None:
        self.store = store
        self.invocations = invocations
        self.assembler = assembler
        self.files_for = files_for
        self.dispatch = dispatch
        self.max_attempts = max_attempts
        # What one more turn may need of the function's remaining time before the rest is handed back to the queue.
        self.seconds_per_turn = seconds_per_turn

    def run(self, job: TurnJob, seconds_left: Callable[[], float] | None = None) -> list[str]:
        """Run the session's unfinished turns up to the job's, in number order; what became of each: completed,
        failed, cancelled or skipped. A failure that is not the model's (a crash, an AWS error) is raised, so the
        queue delivers the job again, except on a turn's last attempt. When `seconds_left` says another turn may
        not fit, the rest goes back to the queue as a continuation of the same job."""
        outcomes: list[str] = []
        while True:
            session = self.store.sessions.get(job.tenant_id, job.session_hex)
            if session is None or session.turns.done >= job.turn_seq:
                return outcomes  # the session is gone, or every turn up to the job's is finished
            seq = session.turns.done + 1
            entry = self.store.events.get_turn_entry(job.tenant_id, job.session_hex, seq)
            if entry is None:
                return outcomes  # never committed: a job sent by hand, or for a message that was refused
            turn = TurnInput(
                job.tenant_id, job.session_hex, seq, entry["orderKey"], entry["turnId"], entry["messageId"]
            )
            outcomes.append(self.run_one(session, turn))
            if seq >= job.turn_seq:
                return outcomes
            if seconds_left is not None and seconds_left() < self.seconds_per_turn:
                self.dispatch(job, f"{job.deduplication_id}-after-{seq}")
                return outcomes

    def run_one(self, session: Session, turn: TurnInput) -> str:
        attempt = session.turns.attempt + 1 if session.turns.active_seq == turn.seq else 1
        message = self.store.records.get_message(turn.tenant_id, turn.session_hex, turn.order_key)
        if message is None:  # committed with its turn item, so only a deleted session lacks it
            return "skipped"
        writer = EventWriter(self.store, session, turn, self.invocations.blocks.auto_compaction)
        usage = {"contextTokens": 0, "inputTokens": 0, "outputTokens": 0}
        outcome = self._run(writer, session, message, usage, attempt, attempt >= self.max_attempts)
        if outcome != "skipped":
            metering.add(invocations=1, **usage)
        return outcome

    def _run(
        self,
        writer: EventWriter,
        session: Session,
        message: dict[str, Any],
        usage: dict[str, int],
        attempt: int,
        last_attempt: bool,
    ) -> str:
        job = writer.job
        try:
            if session.turns.cancelled_through >= job.seq:
                raise TurnStopped(cancelled=True)
            self._start(writer, attempt)
            self._reason_and_act(writer, session, message, usage)
            return "completed"
        except TurnStopped as stopped:
            if stopped.cancelled:
                self._finish(writer, "turn.cancelled", {"reason": "cancelled by the client"}, usage)
                return "cancelled"
            return "skipped"
        except ProviderError as error:
            self._finish(writer, "turn.failed", {"error": error.message, "error_code": error.code}, usage)
            return "failed"
        except SessionGone:
            return "skipped"  # deleted while the turn ran
        except NotFound as missing:  # the agent or model went away
            self._finish(writer, "turn.failed", {"error": str(missing), "error_code": "not_found"}, usage)
            return "failed"
        except Exception:
            if not last_attempt:
                raise
            logger.exception("turn failed on its last attempt", extra={"turn_id": job.turn_id})
            failure = {"error": "the turn failed", "error_code": "internal_error"}
            self._finish(writer, "turn.failed", failure, usage)
            return "failed"

    def _start(self, writer: EventWriter, attempt: int) -> None:
        turns = writer.session.turns
        changes = SessionChanges(
            set={
                "status": SessionStatus.ACTIVE.value,
                "activeTurn": writer.job.turn_id,
                "activeTurnSeq": writer.job.seq,
                "turnAttempt": attempt,
            }
        )
        if turns.started_at is None:
            changes.set["startedAt"] = utc_now()
        if turns.status is not SessionStatus.ACTIVE:
            writer.add("session.activated", {"status": SessionStatus.ACTIVE.value, **_turn_ids(writer.job)})
        writer.add("turn.started", {"attempt": attempt, **_turn_ids(writer.job)})
        writer.flush(changes)

    def _reason_and_act(
        self, writer: EventWriter, session: Session, message: dict[str, Any], usage: dict[str, int]
    ) -> None:
        prepared = self._prepare(session, message)
        prompt = prepared.command.prompt
        reserve = count_tokens(prepared.agent.system_prompt + prompt) + prepared.model.max_output_tokens
        context = self.assembler.assemble(
            session, Selection(), max(0, prepared.model.context_window - reserve), prompt=prompt
        )
        blocks = [block for block in context.blocks if block.id != message["block_id"]]
        usage["contextTokens"] = sum(block.token_count for block in blocks)
        output_id = ids.MESSAGE_PREFIX + ids.new_hex()
        tool_calls: list[tuple[ToolUse, Any]] = []
        loop = self.invocations.agent_loop(
            prepared, render_system(prepared.agent.system_prompt, blocks), usage, tool_calls
        )
        started = False
        text: list[str] = []
        iterations, acted = 1, False  # model calls: one more after each round of tool results
        call_id = ""
        while True:
            try:
                event: StreamEvent = next(loop)
            except StopIteration:
                break
            if event.name in ("text_delta", "tool_call") and acted:
                iterations, acted = iterations + 1, False
            if event.name == "text_delta":
                if not started:
                    started_data = {"message_id": output_id, "turn_id": writer.job.turn_id, "model": prepared.model.id}
                    writer.emit("output.message.started", started_data)
                    started = True
                text.append(event.data["content"])
                delta = {"message_id": output_id, "turn_id": writer.job.turn_id, "delta": event.data["content"]}
                writer.emit("output.message.delta", delta | {"accumulated": "".join(text)})
            elif event.name == "tool_call":
                call_id = ids.TOOL_CALL_PREFIX + ids.new_hex()
                call = {"id": call_id, "name": event.data["tool"], "arguments": event.data["input"]}
                writer.emit(
                    "tool.started", {"tool": event.data["tool"], "input": event.data["input"], "tool_call": call}
                )
            elif event.name == "tool_result":
                acted = True
                failed = event.data["isError"]
                writer.emit(
                    "tool.completed",
                    {
                        "tool": event.data["tool"],
                        "output": event.data["output"],
                        "is_error": failed,
                        "tool_call_id": call_id,
                        "tool_name": event.data["tool"],
                        "success": not failed,
                        "status": "error" if failed else "success",
                        "result": [{"type": "text", "text": as_text(event.data["output"])}],
                    },
                )
        self._complete(writer, session, "".join(text), output_id, tool_calls, usage, iterations)

    def _prepare(self, session: Session, message: dict[str, Any]) -> PreparedInvocation:
        agent = agent_of(self.invocations.catalog, session, {})
        if agent is None:
            raise NotFound("the session's agent no longer exists")
        runtime = session.runtime
        controls = message.get("controls") or {}
        model_id = controls.get("model_id") or (runtime.model_id if runtime else None) or agent.default_model_id
        model = with_controls(self.invocations.catalog.get_model(session.tenant_id, model_id), controls)
        tools, specs = tools_of(merge_capabilities(agent, runtime.capabilities if runtime else []))
        command = InvokeCommand(agent=agent.id, prompt=text_of(message["content"]), session_id=session.id)
        scope = ToolScope(self.files_for(session.tenant_id, session.hex))
        return PreparedInvocation(
            session.tenant_id, command, agent, model, session, message["order_key"], tools, specs, scope
        )

    def _complete(
        self,
        writer: EventWriter,
        session: Session,
        output: str,
        output_id: str,
        tool_calls: list[tuple[ToolUse, Any]],
        usage: dict[str, int],
        iterations: int = 1,
    ) -> None:
        now = utc_now()
        results = [
            BlockIn(type=BlockType.TOOL_RESULT, content={"tool": use.name, "input": use.input, "output": result.output})
            for use, result in tool_calls
        ]
        if output:
            results.append(BlockIn(type=BlockType.CONVERSATION, content=[{"role": "assistant", "content": output}]))
        blocks: list[Block] = [self.invocations.blocks.builder.build(session.hex, block, now) for block in results]
        messages = []
        if output:
            messages.append(
                {
                    "id": output_id,
                    "session_id": ids.RUNTIME_SESSION_PREFIX + session.hex,
                    "role": "agent",
                    "content": [{"type": "text", "text": output}],
                    "metadata": None,
                    "tags": [],
                    "turn_id": writer.job.turn_id,
                    "block_id": blocks[-1].id,
                    "order_key": blocks[-1].order_key,
                    "created_at": now,
                }
            )
            writer.add("output.message.completed", {"message": public_message(messages[0])})
        self._finish(
            writer,
            "turn.completed",
            {
                "blocks_created": [block.id for block in blocks],
                "iterations": iterations,
                "final_message_id": output_id if output else None,
                "tool_call_count": len(tool_calls),
            },
            usage,
            blocks=blocks,
            messages=messages,
            output=output,
        )

    def _finish(
        self,
        writer: EventWriter,
        event_type: str,
        data: dict[str, Any],
        usage: dict[str, int],
        blocks: list[Block] | None = None,
        messages: list[dict[str, Any]] | None = None,
        output: str = "",
    ) -> None:
        """The turn's last events, with the session idle again and the turn counted as done."""
        now = utc_now()
        writer.add(event_type, data | {"usage": _snake(usage), "turn_id": writer.job.turn_id})
        writer.add("session.idled", {"status": SessionStatus.IDLE.value, "turn_id": writer.job.turn_id})
        changes = SessionChanges(
            set={"status": SessionStatus.IDLE.value, "turnsDone": writer.job.seq, "finishedAt": now},
            add={
                "inputTokensUsed": usage["inputTokens"],
                "outputTokensUsed": usage["outputTokens"],
            },
            remove=["activeTurn"],
        )
        if output:
            changes.set["outputPreview"] = preview(output)
        try:
            writer.flush(changes, stopping=True, blocks=blocks or [], messages=messages or [])
        except TurnStopped:
            return  # another delivery of this turn finished it first


def _snake(usage: dict[str, int]) -> dict[str, int]:
    return {
        "context_tokens": usage["contextTokens"],
        "input_tokens": usage["inputTokens"],
        "output_tokens": usage["outputTokens"],
    }


def _turn_ids(job: TurnInput) -> dict[str, str]:
    return {"turn_id": job.turn_id, "input_message_id": job.message_id}


def as_text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
