"""Planning a compaction job across legs: the active blocks are read a page at a time, oldest first, and what
planning needs of each (tokens, importance, pinned, type, message roles) is stored beside the job with the cursor on
the job record; then the bisection (services/compaction_plan.py) runs one projection at a time with its two bounds on
the job record, and the plan is stored with the job (one item per chunk of steps). Each page and projection starts
only with time left before the deadline, so a crashed leg repeats at most one of them.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agentctx.domain import Block, BlockType, Session
from agentctx.services.auto_compaction import CompactionParams
from agentctx.services.compaction_plan import Planner, roles_of, step_record
from agentctx.services.deadline import Deadline
from agentctx.store.context_store import ContextStore

SCAN_PAGE_BLOCKS = 1_000  # planning reads the session this many blocks at a time (one Query page, < 1 MB)


class JobPlanner:
    """Plans a job over as many legs as it takes; `plan` is True once the plan is stored with the job."""

    def __init__(self, store: ContextStore, default_target_share: float, concurrency: int) -> None:
        self.store = store
        self.default_target_share = default_target_share
        self.concurrency = concurrency

    def plan(self, tenant_id: str, session: Session, job: dict[str, Any], deadline: Deadline) -> bool:
        """Plan the job, over as many legs as it takes (True once the plan is stored). The active blocks are read
        a page at a time, oldest first, each page's planning records stored and the cursor checkpointed; then
        the bisection runs, its state checkpointed after each projection. Before each page and projection the
        deadline is checked, so a leg stops in time and a crashed one repeats at most one page or projection."""
        if job["targetTokens"] is None:
            job["targetTokens"] = int(session.max_tokens * self.default_target_share)
        scan = job.setdefault("scan", {"after": None, "pages": 0, "blocks": 0, "done": False})
        page_seconds = 0.0
        while not scan["done"]:
            if deadline.near(page_seconds):
                return False
            before = deadline.left()
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
            page_seconds = before - deadline.left()  # on the invocation's own clock
        if deadline.near():
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
            if deadline.near(projection_seconds):
                self.store.compaction_jobs.save_progress(tenant_id, session.hex, job)
                return False
            before = deadline.left()
            planner.narrow(search)
            projection_seconds = before - deadline.left()  # on the invocation's own clock
            self.store.compaction_jobs.save_progress(tenant_id, session.hex, job)
        plan = planner.plan(search)
        chunks = self.store.compaction_plans.put_plan(
            tenant_id, session.hex, job["orderKey"], [step_record(s) for s in plan.steps]
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

    def _read_roles(self, tenant_id: str, session_hex: str, active: list[Block]) -> None:
        """Give conversation blocks the roles of their messages (read in parallel batches), for the planner's
        rules on tool messages and the newest user message; the text itself is not kept."""
        keys = [block.order_key for block in active if block.type is BlockType.CONVERSATION]
        batches = [keys[start : start + 100] for start in range(0, len(keys), 100)]
        by_key = {block.order_key: block for block in active}
        with ThreadPoolExecutor(self.concurrency) as pool:
            for found in pool.map(lambda batch: self.store.blocks.get_many(tenant_id, session_hex, batch), batches):
                for block in found:
                    by_key[block.order_key].content = [{"role": role} for role in roles_of(block)]


def _scan_record(block: Block) -> list[Any]:
    """What planning needs of a block: its order key, tokens, importance, pinned, type and its messages' roles
    (each once, the first first: enough for `_answers` and `is_user_message`)."""
    roles = list(dict.fromkeys(roles_of(block)))
    return [block.order_key, block.token_count, block.importance, block.pinned, block.type.value, roles]


def _block_of(session_hex: str, record: list[Any]) -> Block:
    order_key, tokens, importance, pinned, block_type, roles = record
    content = [{"role": role} for role in roles] if roles else None
    return Block(session_hex, order_key, BlockType(block_type), content, tokens, [], pinned, importance, "")
