"""A turn: the agent's answer to one input message, run by the turn function from the FIFO turn queue.

Reason (a model call with the context assembled from the session), act (the tools of the session's
capabilities), reason again, until the model answers without tools or the step limit. Every step appends to the
session's event log; the turn's blocks (tool results, the output) and its output message are written with its
last events, in one transaction, so a turn is either finished with all of that or not finished at all
(services/turn_reasoning.py, services/turn_events.py).

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

from collections.abc import Callable
from typing import Any

from agentctx import metering
from agentctx.domain import Session, SessionStatus, utc_now
from agentctx.errors import NotFound
from agentctx.observability import logger
from agentctx.providers.base import ProviderError
from agentctx.services.auto_compaction import AutoCompactionTrigger
from agentctx.services.token_usage import metered, new_usage
from agentctx.services.turn_events import EventWriter, TurnInput, TurnStopped
from agentctx.services.turn_reasoning import ReasonAndAct
from agentctx.store.context_store import ContextStore
from agentctx.store.event_log import SessionChanges
from agentctx.store.transactions import SessionGone
from agentctx.store.turn_jobs import TurnJob


class TurnService:
    def __init__(
        self,
        store: ContextStore,
        answer: ReasonAndAct,
        auto_compaction: AutoCompactionTrigger | None,
        dispatch: Callable[[TurnJob, str], None],
        max_attempts: int,
        seconds_per_turn: float = 300.0,
    ) -> None:
        self.store = store
        self.answer = answer
        self.auto_compaction = auto_compaction
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
        writer = EventWriter(self.store, session, turn, self.auto_compaction)
        usage = new_usage()
        outcome = self._run(writer, session, message, usage, attempt, attempt >= self.max_attempts)
        if outcome != "skipped":
            metering.add(invocations=1, **metered(usage))
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
            self.answer.run(writer, session, message, usage)
            return "completed"
        except TurnStopped as stopped:
            if stopped.cancelled:
                writer.finish("turn.cancelled", {"reason": "cancelled by the client"}, usage)
                return "cancelled"
            return "skipped"
        except ProviderError as error:
            writer.finish("turn.failed", {"error": error.message, "error_code": error.code}, usage)
            return "failed"
        except SessionGone:
            return "skipped"  # deleted while the turn ran
        except NotFound as missing:  # the agent or model went away
            writer.finish("turn.failed", {"error": str(missing), "error_code": "not_found"}, usage)
            return "failed"
        except Exception:
            if not last_attempt:
                raise
            logger.exception("turn failed on its last attempt", extra={"turn_id": job.turn_id})
            failure = {"error": "the turn failed", "error_code": "internal_error"}
            writer.finish("turn.failed", failure, usage)
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
            writer.add("session.activated", {"status": SessionStatus.ACTIVE.value, **writer.job.event_context()})
        writer.add("turn.started", {"attempt": attempt, **writer.job.event_context()})
        writer.flush(changes)
