"""Compaction: replace a session's oldest blocks by summaries until its active tokens meet a target, losslessly.

Selection: blocks are taken in units that must stay together (a conversation block and the tool results or
`tool` messages that answer it), so a tool call and its result never end up one in a summary and one in the live
context. Units holding a pinned block (with preservePinned), one of the preserveRecent newest blocks, or the
session's newest user message are kept. Ordinary units go oldest first; units of high importance (>= 0.8) only
after every ordinary one. The fewest units are taken that bring the active tokens, with the summaries' budget
added back, to the target: the projection falls as units are added, so a bisection finds that number with
O(log N) projections of O(N) each.

Hierarchy: the chosen blocks are cut into groups of consecutive blocks (at most 25 blocks and 20,000 tokens);
each group becomes one summary. While a tier has more than 25 summaries, they are summarised again, 25 to a
summary, so one compaction leaves at most 25 summaries of its own, whatever it covered (docs/compaction.md).
Each summary is tagged with the union of the tags it covers, names the range in `summaryOf`, has
`compactionLevel` one above the highest it covers, and takes the place of its last block; covered blocks leave
the active context but stay stored (`compacted`, `compactedBy`).

Planning spans legs as well: the active blocks are read a page at a time, oldest first, and what planning needs
of each (tokens, importance, pinned, type, message roles) is stored beside the job with the cursor on the job
record; then the bisection runs one projection at a time with its two bounds on the job record. Each page and
projection starts only with time left before the deadline.

Running: the plan is stored with the job (one item per chunk of steps); summaries are written by a bounded pool of
threads, each in its own transaction, and progress is checkpointed on the job record. Before the function's
deadline the job stops taking steps, commits, and queues its own continuation; a crashed leg is delivered again
and resumes from the checkpoint (a step already written is recognised by its summary's key, derived from the job
and the step). Only blocks that were active when the job was planned are considered, and the session's lock keeps
two compactions of one session apart from the first leg to the last.
"""

import heapq
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from agentctx import ids, metering
from agentctx.domain import Block, BlockType, Model, Provider, Session, render_block_text, utc_now
from agentctx.errors import NotFound
from agentctx.observability import logger
from agentctx.providers.base import ChatMessage, ModelProvider, ModelRequest, ProviderError, TextDelta, TextPart
from agentctx.services.auto_compaction import CompactionParams, compaction_job
from agentctx.services.catalog import CatalogService
from agentctx.services.sessions import SessionService
from agentctx.store.block_actions import actions_for_blocks
from agentctx.store.compaction_jobs import Superseded
from agentctx.store.context_store import ContextStore
from agentctx.store.dynamo import MAX_TRANSACTION_ACTIONS
from agentctx.store.records import RecordKind
from agentctx.tokens import count_tokens, get_encoding

HIGH_IMPORTANCE = 0.8
FANOUT = 25
GROUP_TOKENS = 20_000
MIN_SUMMARY_TOKENS = 32
MAX_SUMMARY_TOKENS = 1_000
LOCK_SECONDS = 900
CHECKPOINT_SECONDS = 10.0
SCAN_PAGE_BLOCKS = 1_000  # planning reads the session this many blocks at a time (one Query page, < 1 MB)
# A step is one transaction: the session update, the summary with its filter entries (a summary keeps at most
# SUMMARY_TAGS of its blocks' tags, the most used), and each covered block with its entries (store/block_actions).
SUMMARY_TAGS = 3
SUMMARY_ACTIONS = 2 + SUMMARY_TAGS
STEP_ACTIONS = MAX_TRANSACTION_ACTIONS - 1 - SUMMARY_ACTIONS
SUMMARY_PROMPT = (
    "Summarise these context blocks of an agent's session for the agent's later use. Keep decisions, facts, "
    "names, file paths and open questions; drop chatter. Answer with the summary only, at most {limit} tokens."
)

# Seconds left in this invocation (Lambda's context.get_remaining_time_in_millis() / 1000); None: no deadline.
Remaining = Callable[[], float] | None


@dataclass
class Step:
    """One summary to write, at `key` (derived from the job and the step, so a retried step finds it), covering
    `keys`: blocks for tier 1, the summaries of tier n - 1 above that."""

    tier: int
    key: str
    keys: list[str]
    budget: int


@dataclass
class Plan:
    steps: list[Step]
    blocks_compacted: int
    reason: str | None

    @property
    def summaries_left(self) -> int:
        return sum(1 for step in self.steps if step.tier == self.steps[-1].tier) if self.steps else 0


class Summariser:
    """Summaries from the session's agent model; the offline model (or no model) gets a deterministic extractive
    summary that honours the token budget."""

    def __init__(self, provider_for: Callable[[Model], ModelProvider], encoding: str) -> None:
        self.provider_for = provider_for
        self.encoding = encoding

    def summarise(self, model: Model | None, blocks: list[Block], limit: int) -> tuple[str, int]:
        """The summary text and the model calls it took."""
        texts = [render_block_text(block.type, block.content) for block in blocks]
        if model is None or model.provider is Provider.OFFLINE:
            return self._extractive(texts, limit), 0
        prompt = "\n\n".join(f"[{block.id}]\n{text}" for block, text in zip(blocks, texts, strict=True))
        request = ModelRequest(
            model, SUMMARY_PROMPT.format(limit=limit), [ChatMessage("user", [TextPart(prompt)])], tools=[]
        )
        text = "".join(event.text for event in self.provider_for(model).stream(request) if isinstance(event, TextDelta))
        return self._truncate(text.strip() or self._extractive(texts, limit), limit), 1

    def _extractive(self, texts: list[str], limit: int) -> str:
        """The first sentence of each block, in order, as a bullet list cut to the budget."""
        lines = []
        for text in texts:
            first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
            lines.append(f"- {first[:300]}")
        return self._truncate("Summary of earlier context:\n" + "\n".join(lines), limit)

    def _truncate(self, text: str, limit: int) -> str:
        encoding = get_encoding(self.encoding)
        tokens = encoding.encode(text, disallowed_special=())
        return text if len(tokens) <= limit else encoding.decode(tokens[:limit])


# ----- planning -----


def _roles(block: Block) -> list[str]:
    """The roles of a conversation block's messages (known when its content was read)."""
    if block.type is not BlockType.CONVERSATION or not isinstance(block.content, list):
        return []
    return [message.get("role", "") for message in block.content if isinstance(message, dict)]


def is_user_message(block: Block) -> bool:
    return "user" in _roles(block)


def _answers(previous: Block, block: Block) -> bool:
    """The block holds the result of a tool call made in the block before it: a conversation block opening with a
    `tool` message, or a tool result after a conversation turn (or after the results that answer it)."""
    roles = _roles(block)
    if roles and roles[0] == "tool":
        return True
    return block.type is BlockType.TOOL_RESULT and previous.type in (BlockType.CONVERSATION, BlockType.TOOL_RESULT)


def _units(active: list[Block]) -> list[list[Block]]:
    units: list[list[Block]] = []
    for block in active:
        opens_unit = not units or not _answers(units[-1][-1], block)
        if not opens_unit and block.type is BlockType.TOOL_RESULT and units[-1][0].type is not BlockType.CONVERSATION:
            opens_unit = True  # a run of self-contained tool results with no turn before them: each stands alone
        if opens_unit:
            units.append([])
        units[-1].append(block)
    return units


def plan_compaction(active: list[Block], params: CompactionParams, seed: str = "") -> Plan:
    """Which blocks to summarise and how (see the module docstring). Conversation blocks should carry their
    content (at least each message's role) so that tool messages and the newest user message are recognised."""
    planner = Planner(active, params, seed)
    search = planner.start()
    while not planner.settled(search):
        planner.narrow(search)
    return planner.plan(search)


class Planner:
    """The bisection of plan_compaction, one projection at a time: its state (`search`, two numbers) can be
    checkpointed between projections and the search taken up again in another invocation, with the same result."""

    def __init__(self, active: list[Block], params: CompactionParams, seed: str) -> None:
        assert params.target_tokens is not None, "a job's target is settled before it is planned"
        self.target = params.target_tokens
        self.seed = seed
        self.total = sum(block.token_count for block in active)
        protected = (
            {block.order_key for block in active[len(active) - params.preserve_recent :]}
            if params.preserve_recent
            else set()
        )
        if params.preserve_pinned:
            protected |= {block.order_key for block in active if block.pinned}
        newest_user = next((block for block in reversed(active) if is_user_message(block)), None)
        if newest_user is not None:
            protected.add(newest_user.order_key)
        self.units = [unit for unit in _units(active) if not any(block.order_key in protected for block in unit)]
        self.ordinary = [unit for unit in self.units if max(block.importance for block in unit) < HIGH_IMPORTANCE]
        self.important = [unit for unit in self.units if max(block.importance for block in unit) >= HIGH_IMPORTANCE]

    def start(self) -> dict[str, int]:
        """The search's first state: the plan takes `high` units; settled when high - low <= 1."""
        candidates = len(self.units)
        if self.total <= self.target:
            return {"low": 0, "high": 0}
        if self.projected(candidates)[0] > self.target:
            return {"low": candidates, "high": candidates}  # even every candidate is not enough
        return {"low": 0, "high": candidates}  # projected(low) > target >= projected(high)

    @staticmethod
    def settled(search: dict[str, int]) -> bool:
        return search["high"] - search["low"] <= 1

    def narrow(self, search: dict[str, int]) -> None:
        middle = (search["low"] + search["high"]) // 2
        search["high" if self.projected(middle)[0] <= self.target else "low"] = middle

    def plan(self, search: dict[str, int]) -> Plan:
        tokens, blocks, steps = self.projected(search["high"])
        reason = None
        if tokens > self.target:
            kept = self.total - sum(block.token_count for unit in self.units for block in unit)
            reason = (
                f"pinned and recent blocks alone hold {kept} tokens; with the summaries the session cannot get "
                f"below {tokens} tokens, above the target of {self.target}"
            )
        return Plan(steps, len(blocks), reason)

    def projected(self, count: int) -> tuple[int, list[Block], list[Step]]:
        """The session's tokens after summarising the first `count` units in order of preference (ordinary
        oldest first, then important), the blocks that takes (in session order), and the steps."""
        taken = [self.ordinary[:count], self.important[: max(0, count - len(self.ordinary))]]
        blocks = [block for unit in heapq.merge(*taken, key=lambda unit: unit[0].order_key) for block in unit]
        steps = _tiers(blocks, self.seed)
        top = [step.budget for step in steps if step.tier == steps[-1].tier] if steps else []
        return self.total - sum(block.token_count for block in blocks) + sum(top), blocks, steps


def _tiers(blocks: list[Block], seed: str) -> list[Step]:
    """Tier 1 summarises groups of the blocks; each further tier summarises the one below, until a tier has at
    most FANOUT summaries. Budgets stand for the summaries' tokens until they are written."""
    steps: list[Step] = []
    items = [(block.order_key, block.token_count, actions_for_blocks([block])) for block in blocks]
    tier = 1
    while items:
        tier_steps = []
        for index, group in enumerate(_groups(items)):
            key = ids.order_key_at_seeded(group[-1][0], f"{seed}/{tier}/{index}")
            covered = sum(tokens for _, tokens, _ in group)
            tier_steps.append(Step(tier, key, [order_key for order_key, _, _ in group], _summary_budget(covered)))
        steps += tier_steps
        if len(tier_steps) <= FANOUT:
            break
        items = [(step.key, step.budget, SUMMARY_ACTIONS) for step in tier_steps]
        tier += 1
    return steps


def _groups(items: list[tuple[str, int, int]]) -> list[list[tuple[str, int, int]]]:
    """Consecutive items (order key, tokens, transaction actions) in groups of at most FANOUT, GROUP_TOKENS and
    STEP_ACTIONS."""
    groups: list[list[tuple[str, int, int]]] = []
    tokens = actions = 0
    for item in items:
        if (
            not groups
            or len(groups[-1]) >= FANOUT
            or tokens + item[1] > GROUP_TOKENS
            or actions + item[2] > STEP_ACTIONS
        ):
            groups.append([])
            tokens = actions = 0
        groups[-1].append(item)
        tokens += item[1]
        actions += item[2]
    return groups


def _summary_budget(covered: int) -> int:
    return max(1, min(MAX_SUMMARY_TOKENS, max(MIN_SUMMARY_TOKENS, covered // 10), covered - 1))


# ----- running -----


@dataclass
class StepResult:
    token_delta: int
    model_calls: int
    tier: int
    summary_written: bool


class CompactionService:
    def __init__(
        self,
        store: ContextStore,
        sessions: SessionService,
        catalog: CatalogService,
        summariser: Summariser,
        send: Callable[[dict[str, Any]], None],
        encoding: str,
        default_target_share: float,
        concurrency: int = 8,
        deadline_margin_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.catalog = catalog
        self.summariser = summariser
        self.send = send
        self.encoding = encoding
        self.default_target_share = default_target_share
        self.concurrency = concurrency
        self.deadline_margin_seconds = deadline_margin_seconds

    # ----- queueing -----

    def request(self, tenant_id: str, session_id: str, params: CompactionParams, trigger: str = "manual") -> dict:
        session = self.sessions.load(tenant_id, session_id)
        if params.target_tokens is None:
            params = replace(params, target_tokens=int(session.max_tokens * self.default_target_share))
        job = self._new_job(session, params, trigger)
        self.store.compaction_jobs.queue(tenant_id, session.hex, job, once=False)
        self._send(tenant_id, session.hex, job)
        return job

    def request_automatic(self, session: Session, params: CompactionParams) -> dict | None:
        """Queue one automatic compaction unless one is already pending for the session."""
        job = self._new_job(session, params, "auto")
        if not self.store.compaction_jobs.queue(session.tenant_id, session.hex, job, once=True):
            return None
        self._send(session.tenant_id, session.hex, job)
        return job

    def _new_job(self, session: Session, params: CompactionParams, trigger: str) -> dict[str, Any]:
        return compaction_job(
            session.hex,
            ids.new_order_key(),
            params.target_tokens,
            trigger,
            params.preserve_pinned,
            params.preserve_recent,
        )

    def _send(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> None:
        try:
            self.send({"tenantId": tenant_id, "sessionHex": session_hex, "jobKey": job["orderKey"]})
        except Exception:
            self.store.compaction_jobs.put(
                tenant_id,
                session_hex,
                job | {"status": "failed", "completedAt": utc_now()} | {"error": {"code": "queue_unavailable"}},
            )
            raise

    # ----- reading -----

    def get(self, tenant_id: str, session_id: str, job_id: str) -> dict[str, Any]:
        session = self.sessions.load(tenant_id, session_id)
        job_key = ids.parse_order_id(job_id, ids.COMPACTION_PREFIX)
        job = self.store.records.get_job(tenant_id, session.hex, job_key) if job_key else None
        if job is None:
            raise NotFound(f"compaction {job_id} not found")
        return job

    def list_page(
        self, tenant_id: str, session_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict], str | None]:
        return self.sessions.list_records(tenant_id, session_id, RecordKind.COMPACTION_JOB, limit, cursor)

    def wait(self, tenant_id: str, session_hex: str, job_key: str, seconds: float) -> dict[str, Any]:
        """The job once it is completed or failed, or as it stands when the time is up."""
        deadline = time.monotonic() + seconds
        delay = 0.05
        while True:
            job = self.store.records.get_job(tenant_id, session_hex, job_key)
            if job is None or job["status"] in ("completed", "failed") or time.monotonic() >= deadline:
                return job or {}
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.5)

    # ----- running (the queue consumer) -----

    def run(
        self, tenant_id: str, session_hex: str, job_key: str, leg: int = 0, remaining: Remaining = None
    ) -> dict[str, Any] | None:
        """Run one leg of the job: plan it (first leg), write summaries until done or until the deadline is near,
        then finish it or queue its next leg. A redelivered message of a finished job, or one its continuation
        superseded, changes nothing. Retryable failures raise (the queue delivers again, and the leg resumes
        from the checkpoint); others mark the job failed."""
        job = self.store.records.get_job(tenant_id, session_hex, job_key)
        if job is None or job["status"] in ("completed", "failed") or job.get("leg", 0) > leg:
            return job
        try:
            self.store.compaction_jobs.claim(tenant_id, session_hex, job["id"], int(time.time()), LOCK_SECONDS)
        except NotFound:  # a Conflict (another compaction runs) propagates: the queue delivers this one later
            return self._fail(tenant_id, session_hex, job, {"code": "session_deleted"})
        job |= {"status": "running", "startedAt": job["startedAt"] or utc_now(), "leg": leg}
        try:
            self.store.compaction_jobs.save_progress(tenant_id, session_hex, job)
            if remaining is not None and remaining() < self.deadline_margin_seconds:
                return self._continue(tenant_id, session_hex, job)
            session = self.store.sessions.get(tenant_id, session_hex)
            if session is None:
                return self._fail(tenant_id, session_hex, job, {"code": "session_deleted"})
            if "plan" not in job and not self._plan(tenant_id, session, job, remaining):
                return self._continue(tenant_id, session_hex, job)
            if not self._write_steps(tenant_id, session, job, remaining):
                return self._continue(tenant_id, session_hex, job)
            return self._complete(tenant_id, session_hex, job)
        except Superseded:
            logger.info("a later leg of this compaction took over", extra={"job": job["id"], "leg": leg})
            return job
        except ProviderError as error:
            if error.retryable:
                raise
            return self._fail(tenant_id, session_hex, job, {"code": error.code, "message": error.message})

    def fail_dead_lettered(self, tenant_id: str, session_hex: str, job_key: str, leg: int = 0) -> dict[str, Any] | None:
        """The queue gave up on the job's message: mark the job failed and let the session compact again (its lock
        and its automatic-compaction mark go), unless the job finished or a later leg carries it on."""
        job = self.store.records.get_job(tenant_id, session_hex, job_key)
        if job is None or job["status"] in ("completed", "failed") or job.get("leg", 0) > leg:
            return job
        job |= {"status": "failed", "completedAt": utc_now()}
        job["error"] = {"code": "dead_lettered", "message": "the compaction failed on every delivery"}
        self.store.compaction_jobs.release_failed(tenant_id, session_hex, job)
        if "plan" not in job and "scan" in job:  # it died planning: its pages go (and the one it may have been storing)
            self.store.compaction_plans.delete_scan_pages(tenant_id, session_hex, job_key, job["scan"]["pages"] + 1)
        return job

    def _plan(self, tenant_id: str, session: Session, job: dict[str, Any], remaining: Remaining) -> bool:
        """Plan the job, over as many legs as it takes (True once the plan is stored). The active blocks are read
        a page at a time, oldest first, each page's planning records stored and the cursor checkpointed; then
        the bisection runs, its state checkpointed after each projection. Before each page and projection the
        deadline is checked, so a leg stops in time and a crashed one repeats at most one page or projection."""
        if job["targetTokens"] is None:
            job["targetTokens"] = int(session.max_tokens * self.default_target_share)
        scan = job.setdefault("scan", {"after": None, "pages": 0, "blocks": 0, "done": False})
        page_seconds = 0.0
        while not scan["done"]:
            if self._near_deadline(remaining, page_seconds):
                return False
            before = remaining() if remaining else 0.0
            page = self.store.blocks.list_page(
                tenant_id, session.hex, limit=SCAN_PAGE_BLOCKS, after=scan["after"], with_content=False
            )
            self._read_roles(tenant_id, session.hex, page.items)
            if page.items:
                records = [_scan_record(block) for block in page.items]
                self.store.compaction_plans.put_scan_page(
                    tenant_id, session.hex, job["orderKey"], scan["pages"], records
                )
            scan |= {
                "after": page.next_after,
                "pages": scan["pages"] + bool(page.items),
                "blocks": scan["blocks"] + len(page.items),
                "done": page.next_after is None,
            }
            self.store.compaction_jobs.save_progress(tenant_id, session.hex, job)
            page_seconds = before - remaining() if remaining else 0.0  # on the invocation's own clock
        if self._near_deadline(remaining):
            return False
        records = self.store.compaction_plans.scan_records(tenant_id, session.hex, job["orderKey"])
        active = [_block_of(session.hex, record) for record in records]
        params = CompactionParams(job["targetTokens"], job["preservePinned"], job["preserveRecent"])
        planner = Planner(active, params, seed=job["id"])
        if "search" not in job:
            job["search"] = planner.start()
        search = job["search"]
        projection_seconds = 0.0
        while not planner.settled(search):
            if self._near_deadline(remaining, projection_seconds):
                self.store.compaction_jobs.save_progress(tenant_id, session.hex, job)
                return False
            before = remaining() if remaining else 0.0
            planner.narrow(search)
            projection_seconds = before - remaining() if remaining else 0.0  # on the invocation's own clock
            self.store.compaction_jobs.save_progress(tenant_id, session.hex, job)
        plan = planner.plan(search)
        chunks = self.store.compaction_plans.put_plan(
            tenant_id, session.hex, job["orderKey"], [_step_record(s) for s in plan.steps]
        )
        del job["search"]
        job |= {
            "previousTokens": planner.total,
            "blocksCompacted": plan.blocks_compacted,
            "summariesCreated": plan.summaries_left,
            "targetReached": plan.reason is None,
            "reason": plan.reason,
            "modelCalls": 0,
            "plan": {"steps": len(plan.steps), "chunks": chunks, "tiers": plan.steps[-1].tier if plan.steps else 0},
            "stepsDone": 0,
            "tokenDelta": 0,
            "summariesSkipped": 0,
        }
        self.store.compaction_jobs.save_progress(tenant_id, session.hex, job)
        self.store.compaction_plans.delete_scan_pages(tenant_id, session.hex, job["orderKey"], scan["pages"])
        return True

    def _near_deadline(self, remaining: Remaining, needed: float = 0.0) -> bool:
        return remaining is not None and remaining() < self.deadline_margin_seconds + needed

    def _read_roles(self, tenant_id: str, session_hex: str, active: list[Block]) -> None:
        """Give conversation blocks the roles of their messages (read in parallel batches), for the planner's
        rules on tool messages and the newest user message; the text itself is not kept."""
        keys = [block.order_key for block in active if block.type is BlockType.CONVERSATION]
        batches = [keys[start : start + 100] for start in range(0, len(keys), 100)]
        by_key = {block.order_key: block for block in active}
        with ThreadPoolExecutor(self.concurrency) as pool:
            for found in pool.map(lambda batch: self.store.blocks.get_many(tenant_id, session_hex, batch), batches):
                for block in found:
                    by_key[block.order_key].content = [{"role": role} for role in _roles(block)]

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
                    yield Step(record["tier"], record["key"], record["keys"], record["budget"])
                index += 1

    def _write_steps(self, tenant_id: str, session: Session, job: dict[str, Any], remaining: Remaining) -> bool:
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
                        if remaining is not None and remaining() < self.deadline_margin_seconds:
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

    @staticmethod
    def _advance(job: dict[str, Any], finished: dict[int, StepResult]) -> None:
        while job["stepsDone"] in finished:
            result = finished.pop(job["stepsDone"])
            job["tokenDelta"] += result.token_delta
            job["modelCalls"] += result.model_calls
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
                covered_tokens = sum(b.token_count for b in found.values() if b.compacted_by == written.id)
                return StepResult(written.token_count - covered_tokens, calls, step.tier, True)
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
            return StepResult(summary.token_count - sum(block.token_count for block in covered), calls, step.tier, True)
        raise NotFound("the blocks of a compaction step kept changing")

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

    def _continue(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        """Hand the job to a fresh invocation: its progress is committed; the next leg's message goes last, so a
        failure to send it fails this delivery and the queue runs this leg again."""
        self.send({"tenantId": tenant_id, "sessionHex": session_hex, "jobKey": job["orderKey"], "leg": job["leg"] + 1})
        logger.info("compaction continues in a new invocation", extra={"job": job["id"], "steps": job.get("stepsDone")})
        return job

    def _complete(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        job |= {
            "status": "completed",
            "completedAt": utc_now(),
            "newTokens": job["previousTokens"] + job["tokenDelta"],
            "summariesCreated": max(0, job["summariesCreated"] - job["summariesSkipped"]),
        }
        if self.store.compaction_jobs.finish(tenant_id, session_hex, job, count=job["blocksCompacted"] > 0):
            metering.add(compactions=1, storedTokens=job["tokenDelta"])
        return job

    def _fail(self, tenant_id: str, session_hex: str, job: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
        job |= {"status": "failed", "completedAt": utc_now(), "error": error}
        self.store.compaction_jobs.finish(tenant_id, session_hex, job, count=False)
        return job


def _scan_record(block: Block) -> list[Any]:
    """What planning needs of a block: its order key, tokens, importance, pinned, type and its messages' roles
    (each once, the first first: enough for `_answers` and `is_user_message`)."""
    roles = list(dict.fromkeys(_roles(block)))
    return [block.order_key, block.token_count, block.importance, block.pinned, block.type.value, roles]


def _block_of(session_hex: str, record: list[Any]) -> Block:
    order_key, tokens, importance, pinned, block_type, roles = record
    content = [{"role": role} for role in roles] if roles else None
    return Block(session_hex, order_key, BlockType(block_type), content, tokens, [], pinned, importance, "")


def _step_record(step: Step) -> dict[str, Any]:
    return {"tier": step.tier, "key": step.key, "keys": step.keys, "budget": step.budget}
