"""Compaction: replace a session's oldest blocks by summaries until its active tokens meet a target, losslessly.

Selection: blocks that are neither pinned (with preservePinned) nor among the preserveRecent newest are
candidates. Ordinary blocks go oldest first; blocks of high importance (>= 0.8) only after every ordinary one,
so they outlive ordinary blocks of the same age. Candidates are taken until the active tokens, with the
summaries' budget added back, are at or below the target. They are summarised in groups of consecutive blocks;
each group becomes one summary block (tagged with the union of their tags, `summaryOf` naming the range, and
`compactionLevel` one above the highest it covers) and the covered blocks leave the active context but stay
stored (`compacted`, `compactedBy`).

Only blocks that were active when the job started are considered, so blocks appended meanwhile are never
summarised by it; a lock on the session keeps two compactions of one session apart.
"""

import re
import time
from collections.abc import Callable
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
from agentctx.store.compaction_store import CompactionStore
from agentctx.store.context_store import JOB_PREFIX
from agentctx.tokens import count_tokens, get_encoding

HIGH_IMPORTANCE = 0.8
GROUP_BLOCKS = 25
GROUP_TOKENS = 20_000
MIN_SUMMARY_TOKENS = 32
MAX_SUMMARY_TOKENS = 1_000
LOCK_SECONDS = 900
SUMMARY_PROMPT = (
    "Summarise these context blocks of an agent's session for the agent's later use. Keep decisions, facts, "
    "names, file paths and open questions; drop chatter. Answer with the summary only, at most {limit} tokens."
)


@dataclass
class Plan:
    groups: list[list[Block]]
    summary_budgets: list[int]
    reason: str | None


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


def plan_compaction(active: list[Block], params: CompactionParams) -> Plan:
    """Which blocks to summarise, in which groups, with which summary budgets (see the module docstring)."""
    assert params.target_tokens is not None, "a job's target is settled before it is planned"
    target = params.target_tokens
    total = sum(block.token_count for block in active)
    recent = (
        {block.order_key for block in active[len(active) - params.preserve_recent :]}
        if params.preserve_recent
        else set()
    )
    protected = [b for b in active if b.order_key in recent or (params.preserve_pinned and b.pinned)]
    candidates = [block for block in active if block.order_key not in {p.order_key for p in protected}]
    ordered = [b for b in candidates if b.importance < HIGH_IMPORTANCE] + [
        b for b in candidates if b.importance >= HIGH_IMPORTANCE
    ]
    chosen: list[Block] = []
    for block in ordered:
        if _projected(total, chosen) <= target:
            break
        chosen.append(block)
    reason = None
    if _projected(total, chosen) > target:
        kept = sum(block.token_count for block in protected)
        reason = (
            f"pinned and recent blocks alone hold {kept} tokens; with the summaries the session cannot get below "
            f"{_projected(total, chosen)} tokens, above the target of {target}"
        )
    chosen.sort(key=lambda block: block.order_key)
    groups = _groups(chosen)
    return Plan(groups, [_summary_budget(group) for group in groups], reason)


def _groups(blocks: list[Block]) -> list[list[Block]]:
    groups: list[list[Block]] = []
    for block in blocks:
        if (
            not groups
            or len(groups[-1]) >= GROUP_BLOCKS
            or sum(b.token_count for b in groups[-1]) + block.token_count > GROUP_TOKENS
        ):
            groups.append([])
        groups[-1].append(block)
    return groups


def _summary_budget(group: list[Block]) -> int:
    covered = sum(block.token_count for block in group)
    return max(1, min(MAX_SUMMARY_TOKENS, max(MIN_SUMMARY_TOKENS, covered // 10), covered - 1))


def _projected(total: int, chosen: list[Block]) -> int:
    ordered = sorted(chosen, key=lambda block: block.order_key)
    return total - sum(block.token_count for block in chosen) + sum(_summary_budget(g) for g in _groups(ordered))


class CompactionService:
    def __init__(
        self,
        store: CompactionStore,
        sessions: SessionService,
        catalog: CatalogService,
        summariser: Summariser,
        send: Callable[[dict[str, Any]], None],
        encoding: str,
        default_target_share: float,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.catalog = catalog
        self.summariser = summariser
        self.send = send
        self.encoding = encoding
        self.default_target_share = default_target_share

    # ----- queueing -----

    def request(self, tenant_id: str, session_id: str, params: CompactionParams, trigger: str = "manual") -> dict:
        session = self.sessions.load(tenant_id, session_id)
        if params.target_tokens is None:
            params = replace(params, target_tokens=int(session.max_tokens * self.default_target_share))
        job = self._new_job(session, params, trigger)
        self.store.queue_job(tenant_id, session.hex, job, once=False)
        self._send(tenant_id, session.hex, job)
        return job

    def request_automatic(self, session: Session, params: CompactionParams) -> dict | None:
        """Queue one automatic compaction unless one is already pending for the session."""
        job = self._new_job(session, params, "auto")
        if not self.store.queue_job(session.tenant_id, session.hex, job, once=True):
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
            self._finish(tenant_id, session_hex, job, "failed", error={"code": "queue_unavailable"})
            raise

    # ----- reading -----

    def get(self, tenant_id: str, session_id: str, job_id: str) -> dict[str, Any]:
        session = self.sessions.load(tenant_id, session_id)
        job_key = ids.parse_order_id(job_id, ids.COMPACTION_PREFIX)
        job = self.store.get_job(tenant_id, session.hex, job_key) if job_key else None
        if job is None:
            raise NotFound(f"compaction {job_id} not found")
        return job

    def list_page(
        self, tenant_id: str, session_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict], str | None]:
        return self.sessions.list_records(tenant_id, session_id, JOB_PREFIX, limit, cursor)

    def wait(self, tenant_id: str, session_hex: str, job_key: str, seconds: float) -> dict[str, Any]:
        """The job once it is completed or failed, or as it stands when the time is up."""
        deadline = time.monotonic() + seconds
        delay = 0.05
        while True:
            job = self.store.get_job(tenant_id, session_hex, job_key)
            if job is None or job["status"] in ("completed", "failed") or time.monotonic() >= deadline:
                return job or {}
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.5)

    # ----- running (the queue consumer) -----

    def run(self, tenant_id: str, session_hex: str, job_key: str) -> dict[str, Any] | None:
        """Do the job once: a redelivered message of a finished job changes nothing. Retryable failures raise (the
        queue delivers again); others mark the job failed."""
        job = self.store.get_job(tenant_id, session_hex, job_key)
        if job is None or job["status"] in ("completed", "failed"):
            return job
        try:
            self.store.claim(tenant_id, session_hex, job["id"], int(time.time()), LOCK_SECONDS)
        except NotFound:  # a Conflict (another compaction runs) propagates: the queue delivers this one later
            return self._finish(tenant_id, session_hex, job, "failed", error={"code": "session_deleted"})
        try:
            job |= {"status": "running", "startedAt": job["startedAt"] or utc_now()}
            self.store.put_job(tenant_id, session_hex, job)
            result = self._compact(tenant_id, session_hex, job)
            metering.add(compactions=1, storedTokens=result["newTokens"] - result["previousTokens"])
            return self._finish(tenant_id, session_hex, job, "completed", **result)
        except ProviderError as error:
            if error.retryable:
                raise
            return self._finish(
                tenant_id, session_hex, job, "failed", error={"code": error.code, "message": error.message}
            )
        finally:
            self.store.release(tenant_id, session_hex, job["id"])

    def _compact(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        session = self.store.get_session(tenant_id, session_hex)
        if session is None:
            raise NotFound("session not found")
        if job["targetTokens"] is None:
            job["targetTokens"] = int(session.max_tokens * self.default_target_share)
        params = CompactionParams(job["targetTokens"], job["preservePinned"], job["preserveRecent"])
        active = self.store.list_blocks(tenant_id, session_hex, limit=10**9, after=None, with_content=False).items
        previous = sum(block.token_count for block in active)
        plan = plan_compaction(active, params)
        model = self._model_of(session)
        calls = 0
        new_tokens = previous
        now = utc_now()
        for index, (group, budget) in enumerate(zip(plan.groups, plan.summary_budgets, strict=True)):
            covered = self.store.get_blocks(tenant_id, session_hex, [block.order_key for block in group])
            text, used = self.summariser.summarise(model, covered, budget)
            calls += used
            summary = self._summary_block(session_hex, covered, text, now)
            self.store.apply_summary(
                tenant_id,
                session_hex,
                summary,
                covered,
                now,
                count=index == len(plan.groups) - 1,
            )
            new_tokens += summary.token_count - sum(block.token_count for block in covered)
        return {
            "previousTokens": previous,
            "newTokens": new_tokens,
            "blocksCompacted": sum(len(group) for group in plan.groups),
            "summariesCreated": len(plan.groups),
            "modelCalls": calls,
            "targetReached": plan.reason is None,
            "reason": plan.reason,
        }

    def _summary_block(self, session_hex: str, covered: list[Block], text: str, now: str) -> Block:
        """The summary takes the place of the blocks it covers in session order (the millisecond of the last)."""
        tags = list(dict.fromkeys(tag for block in covered for tag in block.tags))
        return Block(
            session_hex=session_hex,
            order_key=ids.order_key_at(covered[-1].order_key),
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

    def _finish(self, tenant_id: str, session_hex: str, job: dict[str, Any], status: str, **fields: Any) -> dict:
        job |= fields | {"status": status, "completedAt": utc_now()}
        self.store.put_job(tenant_id, session_hex, job)
        return job
