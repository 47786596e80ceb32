"""Which blocks a compaction summarises: the oldest unprotected ones, ordinary before important, to the target."""

from agentctx import ids
from agentctx.domain import Block, BlockType
from agentctx.services.compaction import CompactionParams, plan_compaction


def blocks(*specs: tuple[int, bool, float]) -> list[Block]:
    """(tokens, pinned, importance) each, in session order."""
    return [
        Block("a" * 32, ids.new_order_key(), BlockType.NOTE, None, tokens, [], pinned, importance, "t")
        for tokens, pinned, importance in specs
    ]


def covered(plan) -> list[int]:
    return [block.token_count for group in plan.groups for block in group]


def test_oldest_unprotected_blocks_are_summarised_until_the_target():
    active = blocks(*[(100 + i, False, 0.5) for i in range(10)])

    plan = plan_compaction(active, CompactionParams(target_tokens=600, preserve_recent=2))

    total_after = sum(b.token_count for b in active) - sum(covered(plan)) + sum(plan.summary_budgets)
    assert covered(plan) == [100, 101, 102, 103, 104]  # 1045 - 510 + a 51-token summary = 586
    assert total_after <= 600 and plan.reason is None


def test_pinned_and_recent_blocks_are_never_summarised():
    active = blocks((500, True, 0.5), (100, False, 0.5), (100, False, 0.5), (100, False, 0.5))

    plan = plan_compaction(active, CompactionParams(target_tokens=0, preserve_pinned=True, preserve_recent=1))

    assert covered(plan) == [100, 100]
    assert plan.reason is not None and "pinned and recent blocks alone hold 600 tokens" in plan.reason


def test_preserve_pinned_false_lets_pinned_blocks_go():
    active = blocks((500, True, 0.5), (100, False, 0.5))

    plan = plan_compaction(active, CompactionParams(target_tokens=150, preserve_pinned=False, preserve_recent=1))

    assert covered(plan) == [500]


def test_important_blocks_outlive_ordinary_blocks_of_the_same_age():
    active = blocks((100, False, 0.9), (100, False, 0.5), (100, False, 0.5), (100, False, 0.5))

    plan = plan_compaction(active, CompactionParams(target_tokens=260, preserve_recent=1))

    assert [b.importance for group in plan.groups for b in group] == [0.5, 0.5]


def test_nothing_to_do_under_the_target():
    plan = plan_compaction(blocks((10, False, 0.5)), CompactionParams(target_tokens=100))

    assert plan.groups == [] and plan.reason is None


def test_groups_hold_consecutive_blocks_of_bounded_size():
    active = blocks(*[(10, False, 0.5) for _ in range(60)])

    plan = plan_compaction(active, CompactionParams(target_tokens=0, preserve_recent=0))

    assert [len(group) for group in plan.groups] == [25, 25, 10]
    ordered = [b.order_key for group in plan.groups for b in group]
    assert ordered == sorted(ordered)
