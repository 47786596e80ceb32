"""Which blocks a compaction summarises: the oldest unprotected units, ordinary before important, to the target;
tool calls stay with their results, the newest user message stays live, and the work grows as N log N."""

import math

from agentctx import ids
from agentctx.domain import Block, BlockType
from agentctx.services.auto_compaction import CompactionParams
from agentctx.services.compaction_plan import FANOUT, plan_compaction


def blocks(*specs: tuple[int, bool, float]) -> list[Block]:
    """(tokens, pinned, importance) each, in session order."""
    return [
        Block("a" * 32, ids.new_order_key(), BlockType.NOTE, None, tokens, [], pinned, importance, "t")
        for tokens, pinned, importance in specs
    ]


def message(role: str, tokens: int = 100) -> Block:
    return Block(
        "a" * 32,
        ids.new_order_key(),
        BlockType.CONVERSATION,
        [{"role": role, "content": "x"}],
        tokens,
        [],
        False,
        0.5,
        "t",
    )


def tool_result(tokens: int = 100) -> Block:
    content = {"tool": "grep", "input": {}, "output": "x"}
    return Block("a" * 32, ids.new_order_key(), BlockType.TOOL_RESULT, content, tokens, [], False, 0.4, "t")


def covered_keys(plan) -> list[str]:
    return [key for step in plan.steps if step.tier == 1 for key in step.keys]


def covered(plan, active) -> list[int]:
    tokens = {block.order_key: block.token_count for block in active}
    return [tokens[key] for key in covered_keys(plan)]


def tokens_after(plan, active) -> int:
    top = [step.budget for step in plan.steps if step.tier == plan.steps[-1].tier]
    return sum(block.token_count for block in active) - sum(covered(plan, active)) + sum(top)


def test_oldest_unprotected_blocks_are_summarised_until_the_target():
    active = blocks(*[(100 + i, False, 0.5) for i in range(10)])

    plan = plan_compaction(active, CompactionParams(target_tokens=600, preserve_recent=2))

    # 120 of the 600 are left for the artifact ledger: 1045 - 721 + a 72-token summary = 396 <= 480
    assert covered(plan, active) == [100, 101, 102, 103, 104, 105, 106]
    assert tokens_after(plan, active) <= 480 and plan.reason is None
    assert plan.blocks_compacted == 7 and plan.summaries_left == 1


def test_pinned_and_recent_blocks_are_never_summarised():
    active = blocks((500, True, 0.5), (100, False, 0.5), (100, False, 0.5), (100, False, 0.5))

    plan = plan_compaction(active, CompactionParams(target_tokens=0, preserve_pinned=True, preserve_recent=1))

    assert covered(plan, active) == [100, 100]
    assert plan.reason is not None and "pinned and recent blocks alone hold 600 tokens" in plan.reason


def test_preserve_pinned_false_lets_pinned_blocks_go():
    active = blocks((500, True, 0.5), (100, False, 0.5))

    plan = plan_compaction(active, CompactionParams(target_tokens=150, preserve_pinned=False, preserve_recent=1))

    assert covered(plan, active) == [500]


def test_important_blocks_outlive_ordinary_blocks_of_the_same_age():
    active = blocks((100, False, 0.9), (100, False, 0.5), (100, False, 0.5), (100, False, 0.5))

    plan = plan_compaction(active, CompactionParams(target_tokens=300, preserve_recent=1))

    assert covered_keys(plan) == [active[1].order_key, active[2].order_key]


def test_nothing_to_do_under_the_target():
    plan = plan_compaction(blocks((10, False, 0.5)), CompactionParams(target_tokens=100))

    assert plan.steps == [] and plan.reason is None


def test_groups_hold_consecutive_blocks_of_bounded_size():
    active = blocks(*[(10, False, 0.5) for _ in range(60)])

    plan = plan_compaction(active, CompactionParams(target_tokens=0, preserve_recent=0))

    assert [len(step.keys) for step in plan.steps] == [25, 25, 10]
    assert covered_keys(plan) == [block.order_key for block in active]


def test_a_tool_call_and_its_result_stay_together_on_the_live_side():
    # the call (an assistant turn) is old enough to go, but its result is among the recent blocks
    active = [*blocks(*[(100, False, 0.5)] * 6), message("assistant"), message("tool"), *blocks((100, False, 0.5))]

    plan = plan_compaction(active, CompactionParams(target_tokens=0, preserve_recent=2))

    assert covered_keys(plan) == [block.order_key for block in active[:6]]


def test_tool_results_stay_with_the_turn_that_called_them():
    turn, first, second = message("assistant"), tool_result(), tool_result()
    active = [*blocks(*[(100, False, 0.5)] * 4), turn, first, second, *blocks((100, False, 0.5))]

    kept_live = plan_compaction(active, CompactionParams(target_tokens=0, preserve_recent=2))
    all_old = plan_compaction(active, CompactionParams(target_tokens=0, preserve_recent=1))

    assert turn.order_key not in covered_keys(kept_live) and first.order_key not in covered_keys(kept_live)
    assert {turn.order_key, first.order_key, second.order_key} <= set(covered_keys(all_old))


def test_self_contained_tool_results_are_units_of_their_own():
    active = [tool_result() for _ in range(10)]

    plan = plan_compaction(active, CompactionParams(target_tokens=0, preserve_recent=1))

    assert covered_keys(plan) == [block.order_key for block in active[:9]]


def test_the_newest_user_message_is_never_summarised():
    question = message("user")
    active = [message("user"), *blocks(*[(100, False, 0.5)] * 4), question, *blocks(*[(100, False, 0.5)] * 4)]

    plan = plan_compaction(active, CompactionParams(target_tokens=0, preserve_recent=0))

    assert question.order_key not in covered_keys(plan)
    assert active[0].order_key in covered_keys(plan) and active[-1].order_key in covered_keys(plan)


def test_many_summaries_are_summarised_again_to_at_most_fanout():
    active = blocks(*[(250, False, 0.5) for _ in range(10_000)])

    plan = plan_compaction(active, CompactionParams(target_tokens=30_000, preserve_recent=5))

    tiers = [step.tier for step in plan.steps]
    assert max(tiers) == 2 and tiers == sorted(tiers)
    assert plan.summaries_left <= FANOUT and tokens_after(plan, active) <= 30_000
    first_tier = [step.key for step in plan.steps if step.tier == 1]
    assert [key for step in plan.steps if step.tier == 2 for key in step.keys] == first_tier
    assert len(covered_keys(plan)) == plan.blocks_compacted


def test_summary_keys_are_the_same_for_the_same_job_and_sort_beside_their_last_block():
    active = blocks(*[(100, False, 0.5) for _ in range(30)])
    params = CompactionParams(target_tokens=0, preserve_recent=0)

    first, again = plan_compaction(active, params, seed="cmp_x"), plan_compaction(active, params, seed="cmp_x")

    assert [step.key for step in first.steps] == [step.key for step in again.steps]
    assert all(step.key[:10] == step.keys[-1][:10] for step in first.steps if step.tier == 1)


class CountedBlock(Block):
    """Counts every read of a block's token count: the planner's work."""

    reads = 0

    @property  # type: ignore[override]
    def token_count(self) -> int:
        CountedBlock.reads += 1
        return self._tokens

    @token_count.setter
    def token_count(self, value: int) -> None:
        self._tokens = value


def planning_work(size: int) -> int:
    active = [
        CountedBlock("a" * 32, ids.new_order_key(), BlockType.NOTE, None, 200, [], False, 0.5 + 0.4 * (i % 7 == 0), "t")
        for i in range(size)
    ]
    CountedBlock.reads = 0
    plan_compaction(active, CompactionParams(target_tokens=size * 20, preserve_recent=5))
    return CountedBlock.reads


def test_planning_work_grows_as_n_log_n():
    sizes = [1_000, 4_000, 16_000]
    work = [planning_work(size) for size in sizes]

    per_n_log_n = [w / (n * math.log2(n)) for w, n in zip(work, sizes, strict=True)]
    assert max(per_n_log_n) < 1.5 * min(per_n_log_n), work  # quadratic work would grow 16 times per step
    assert work[2] < 6 * work[0] * 4, work
