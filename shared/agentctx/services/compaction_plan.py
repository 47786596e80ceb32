"""Which blocks a compaction summarises, and how: the plan, computed from what planning needs of the active blocks.

Selection: blocks are taken in units that must stay together (a conversation block and the tool results or
`tool` messages that answer it), so a tool call and its result never end up one in a summary and one in the live
context. Units holding a pinned block (with preservePinned), one of the preserveRecent newest blocks, or the
session's newest user message are kept, and so is the artifact ledger (services/artifact_ledger.py). Ordinary
units go oldest first; units of high importance (>= 0.8) only after every ordinary one. The fewest units are taken
that bring the active tokens, with the summaries' budget added back, to the target: the projection falls as units
are added, so a bisection finds that number with O(log N) projections of O(N) each.

Hierarchy: the chosen blocks are cut into groups of consecutive blocks (at most 25 blocks and 20,000 tokens);
each group becomes one summary. While a tier has more than 25 summaries, they are summarised again, 25 to a
summary, so one compaction leaves at most 25 summaries of its own, whatever it covered (docs/compaction.md).
Each summary is tagged with the union of the tags it covers, names the range in `summaryOf`, has
`compactionLevel` one above the highest it covers, and takes the place of its last block; covered blocks leave
the active context but stay stored (`compacted`, `compactedBy`).
"""

import heapq
from dataclasses import dataclass
from typing import Any

from agentctx import ids
from agentctx.domain import Block, BlockType
from agentctx.services.artifact_ledger import LEDGER_ORDER_KEY, ledger_budget
from agentctx.services.auto_compaction import CompactionParams
from agentctx.store.block_actions import actions_for_blocks
from agentctx.store.dynamo import MAX_TRANSACTION_ACTIONS

HIGH_IMPORTANCE = 0.8
FANOUT = 25
GROUP_TOKENS = 20_000
MIN_SUMMARY_TOKENS = 32
MAX_SUMMARY_TOKENS = 1_000
# A step is one transaction: the session update, the summary with its filter entries (a summary keeps at most
# SUMMARY_TAGS of its blocks' tags, the most used), and each covered block with its entries (store/block_actions).
SUMMARY_TAGS = 3
SUMMARY_ACTIONS = 2 + SUMMARY_TAGS
STEP_ACTIONS = MAX_TRANSACTION_ACTIONS - 1 - SUMMARY_ACTIONS


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


def roles_of(block: Block) -> list[str]:
    """The roles of a conversation block's messages (known when its content was read)."""
    if block.type is not BlockType.CONVERSATION or not isinstance(block.content, list):
        return []
    return [message.get("role", "") for message in block.content if isinstance(message, dict)]


def is_user_message(block: Block) -> bool:
    return "user" in roles_of(block)


def _answers(previous: Block, block: Block) -> bool:
    """The block holds the result of a tool call made in the block before it: a conversation block opening with a
    `tool` message, or a tool result after a conversation turn (or after the results that answer it)."""
    roles = roles_of(block)
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
        self.requested = params.target_tokens
        # Room is left for the artifact ledger that the job's end writes (services/artifact_ledger.py).
        self.target = params.target_tokens - ledger_budget(params.target_tokens)
        self.seed = seed
        self.total = sum(block.token_count for block in active)
        protected = (
            {block.order_key for block in active[len(active) - params.preserve_recent :]}
            if params.preserve_recent
            else set()
        )
        if params.preserve_pinned:
            protected |= {block.order_key for block in active if block.pinned}
        protected.add(LEDGER_ORDER_KEY)  # the artifact ledger is carried by compaction, never summarised
        newest_user = next((block for block in reversed(active) if is_user_message(block)), None)
        if newest_user is not None:
            protected.add(newest_user.order_key)
        self.units = [unit for unit in _units(active) if not any(block.order_key in protected for block in unit)]
        self.ordinary = [unit for unit in self.units if max(block.importance for block in unit) < HIGH_IMPORTANCE]
        self.important = [unit for unit in self.units if max(block.importance for block in unit) >= HIGH_IMPORTANCE]

    def start(self) -> dict[str, int]:
        """The search's first state: the plan takes `high` units; settled when high - low <= 1."""
        candidates = len(self.units)
        if self.total <= self.requested:
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
        if tokens > self.requested:
            kept = self.total - sum(block.token_count for unit in self.units for block in unit)
            reason = (
                f"pinned and recent blocks alone hold {kept} tokens; with the summaries the session cannot get "
                f"below {tokens} tokens, above the target of {self.requested}"
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


def step_record(step: Step) -> dict[str, Any]:
    return {"tier": step.tier, "key": step.key, "keys": step.keys, "budget": step.budget}


def step_of(record: dict[str, Any]) -> Step:
    return Step(record["tier"], record["key"], record["keys"], record["budget"])
