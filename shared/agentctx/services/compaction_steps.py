"""Writing a compaction's plan: its summaries are written by a bounded pool of threads, each step in its own
transaction, and progress is checkpointed on the job record. Before the function's deadline the writer stops taking
steps and commits; the next leg (or a crashed leg delivered again) resumes from the checkpoint, and a step already
written is recognised by its summary's key, derived from the job and the step. Only blocks that were active when the
job was planned are considered.
"""

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from agentctx.domain import Block, BlockType, Model, Session, utc_now
from agentctx.errors import NotFound
from agentctx.observability import logger
from agentctx.services.artifact_ledger import (
    LEDGER_ORDER_KEY,
    LEDGER_TAG,
    empty_ledger,
    extract,
    is_empty,
    merge,
    parse,
    render_within,
)
from agentctx.services.catalog import CatalogService
from agentctx.services.compaction_plan import SUMMARY_TAGS, Step, step_of
from agentctx.services.compaction_summariser import Summariser
from agentctx.services.deadline import Deadline
from agentctx.store.context_store import ContextStore
from agentctx.tokens import count_tokens

CHECKPOINT_SECONDS = 10.0


@dataclass
class LedgerUpdate:
    """The session's artifact ledger as a compaction leaves it, and as it was (None: written for the first time)."""

    ledger: Block
    previous: Block | None

    @property
    def token_delta(self) -> int:
        return self.ledger.token_count - (self.previous.token_count if self.previous else 0)


@dataclass
class StepResult:
    token_delta: int
    model_calls: int
    tier: int
    summary_written: bool
    # The artifacts of the blocks the step covered (services/artifact_ledger.py).
    ledger: dict[str, Any] | None = None


class StepWriter:
    """Writes a planned job's summaries, `concurrency` at a time, from its checkpoint on."""

    def __init__(
        self,
        store: ContextStore,
        catalog: CatalogService,
        summariser: Summariser,
        encoding: str,
        concurrency: int = 8,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.summariser = summariser
        self.encoding = encoding
        self.concurrency = concurrency

    def write(self, tenant_id: str, session: Session, job: dict[str, Any], deadline: Deadline) -> bool:
        """Write the plan's summaries from the checkpoint on, `concurrency` at a time (a tier starts when the one
        below it is written), until all are written (True) or the deadline is near (False). The checkpoint is
        the first step not known to be written: steps finished past it are found written when resumed."""
        model = self._model_of(session)
        now = utc_now()
        total = job["plan"]["steps"]
        steps = self._steps(tenant_id, session.hex, job, job["stepsDone"])
        upcoming = next(steps, None)
        index = job["stepsDone"]
        finished: dict[int, StepResult] = {}
        in_flight: dict[Future[StepResult], int] = {}
        tier = upcoming.tier if upcoming else 0
        last_checkpoint = time.monotonic()
        stopping = False
        with ThreadPoolExecutor(self.concurrency) as pool:
            try:
                while True:
                    while upcoming is not None and not stopping and len(in_flight) < self.concurrency:
                        if deadline.near():
                            stopping = True
                        elif in_flight and upcoming.tier != tier:
                            break
                        else:
                            tier = upcoming.tier
                            future = pool.submit(self._write_step, tenant_id, session.hex, upcoming, model, now)
                            in_flight[future] = index
                            index += 1
                            upcoming = next(steps, None)
                    if not in_flight:
                        break
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        finished[in_flight.pop(future)] = future.result()
                        self._advance(job, finished)
                    if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                        self.store.compaction_jobs.save_progress(tenant_id, session.hex, job)
                        last_checkpoint = time.monotonic()
            except BaseException:
                for future in in_flight:
                    future.cancel()
                raise
            finally:
                self._advance(job, finished)
                self.store.compaction_jobs.save_progress(tenant_id, session.hex, job)
        return job["stepsDone"] >= total

    def _steps(self, tenant_id: str, session_hex: str, job: dict[str, Any], start: int) -> Iterator[Step]:
        """The plan's steps from `start` on, read chunk by chunk as they are reached."""
        index = 0
        for chunk in range(job["plan"]["chunks"]):
            records = self.store.compaction_plans.get_plan_chunk(tenant_id, session_hex, job["orderKey"], chunk)
            if index + len(records) <= start:
                index += len(records)
                continue
            for record in records:
                if index >= start:
                    yield step_of(record)
                index += 1

    @staticmethod
    def _advance(job: dict[str, Any], finished: dict[int, StepResult]) -> None:
        while job["stepsDone"] in finished:
            result = finished.pop(job["stepsDone"])
            job["tokenDelta"] += result.token_delta
            job["modelCalls"] += result.model_calls
            if result.ledger and not is_empty(result.ledger):
                job["ledger"] = merge(job.get("ledger") or empty_ledger(), result.ledger)
            if not result.summary_written and result.tier == job["plan"]["tiers"]:
                job["summariesSkipped"] += 1
            job["stepsDone"] += 1

    def _write_step(self, tenant_id: str, session_hex: str, step: Step, model: Model | None, now: str) -> StepResult:
        """Summarise the step's blocks that are still active and write the summary with them in one transaction;
        a step written before (a leg that died) is recognised by its summary and counted, not written again."""
        calls = 0
        for _ in range(2):
            found = {
                block.order_key: block
                for block in self.store.blocks.get_many(tenant_id, session_hex, step.keys + [step.key])
            }
            written = found.pop(step.key, None)
            if written is not None:
                was_covered = [block for block in found.values() if block.compacted_by == written.id]
                covered_tokens = sum(block.token_count for block in was_covered)
                return StepResult(written.token_count - covered_tokens, calls, step.tier, True, extract(was_covered))
            covered = [found[key] for key in step.keys if key in found and not found[key].compacted]
            if not covered:
                return StepResult(0, calls, step.tier, False)
            text, used = self.summariser.summarise(model, covered, step.budget)
            calls += used
            summary = self._summary_block(session_hex, step.key, covered, text, now)
            try:
                self.store.block_writes.apply_summary(tenant_id, session_hex, summary, covered, now, count=False)
            except NotFound:
                continue  # a covered block was deleted or compacted meanwhile: summarise what is left
            delta = summary.token_count - sum(block.token_count for block in covered)
            return StepResult(delta, calls, step.tier, True, extract(covered))
        raise NotFound("the blocks of a compaction step kept changing")

    def ledger_update(
        self, tenant_id: str, session_hex: str, artifacts: dict[str, Any] | None, budget: int, now: str
    ) -> LedgerUpdate | None:
        """The session's artifact ledger with the job's `artifacts` merged in, within `budget` tokens (the oldest
        entries give way), and the ledger it replaces (None when the session has none yet); None when there are no
        artifacts or none fits. A ledger the client re-pinned or re-tagged keeps its flags: only its content
        changes."""
        if not artifacts or is_empty(artifacts):
            return None
        previous = next(iter(self.store.blocks.get_many(tenant_id, session_hex, [LEDGER_ORDER_KEY])), None)
        if previous is not None and previous.compacted:
            return None  # compacted before compaction kept ledgers: its key stays taken
        older = parse(previous.content) if previous and isinstance(previous.content, str) else empty_ledger()
        text = render_within(merge(older, artifacts), budget, lambda text: count_tokens(text, self.encoding))
        if text is None:
            return None
        tokens = count_tokens(text, self.encoding)
        if previous is not None:
            return LedgerUpdate(replace(previous, content=text, token_count=tokens), previous)
        ledger = Block(session_hex, LEDGER_ORDER_KEY, BlockType.NOTE, text, tokens, [LEDGER_TAG], True, 1.0, now)
        return LedgerUpdate(ledger, None)

    def _summary_block(self, session_hex: str, key: str, covered: list[Block], text: str, now: str) -> Block:
        """The summary takes the place of the blocks it covers in session order (the millisecond of the last)."""
        used = Counter(tag for block in covered for tag in block.tags)
        tags = [tag for tag, _ in used.most_common(SUMMARY_TAGS)]
        return Block(
            session_hex=session_hex,
            order_key=key,
            type=BlockType.SUMMARY,
            content=text,
            token_count=count_tokens(text, self.encoding),
            tags=tags,
            pinned=False,
            importance=0.8,
            created_at=now,
            compaction_level=max(block.compaction_level for block in covered) + 1,
            summary_of={
                "fromBlockId": covered[0].id,
                "toBlockId": covered[-1].id,
                "blockIds": [block.id for block in covered],
                "blockCount": len(covered),
                "tokens": sum(block.token_count for block in covered),
            },
        )

    def _model_of(self, session: Session) -> Model | None:
        if not session.default_agent:
            return None
        try:
            agent = self.catalog.resolve_agent(session.tenant_id, session.default_agent)
            return self.catalog.get_model(session.tenant_id, agent.default_model_id)
        except NotFound:
            logger.info("session agent or model missing; summarising offline", extra={"session": session.id})
            return None
