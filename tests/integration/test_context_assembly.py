"""Context assembly: priority blocks first, newest matching blocks until the budget is full, session order, and
work that grows with the budget rather than the session; enrichment none, manual and auto."""

from agentctx import ids
from agentctx.domain import Block, BlockType, Session, utc_now
from agentctx.schemas.blocks import BlockIn
from agentctx.services.context import ContextAssembler, Enrichment, EnrichmentConfig, Selection
from agentctx.wiring import block_service, context_store, search_service, session_service
from tests.dynamo_calls import CallCounter

TENANT = "org_" + "e" * 32


def seed(blocks: list[dict], tags: list[str] | None = None) -> Session:
    """A session with notes of a fixed token count each (10 tokens: 'w w w ...')."""
    now = utc_now()
    session = Session(tenant_id=TENANT, hex=ids.new_hex(), name="s", created_at=now, updated_at=now, tags=tags or [])
    built = []
    for spec in blocks:
        built.append(
            Block(
                session_hex=session.hex,
                order_key=ids.new_order_key(),
                type=BlockType(spec.get("type", "note")),
                content=spec.get("content", "x"),
                token_count=spec.get("tokens", 10),
                tags=spec.get("tags", []),
                pinned=spec.get("pinned", False),
                importance=0.5,
                created_at=now,
            )
        )
    session.pinned_count = sum(1 for block in built if block.pinned)
    session.summary_count = sum(1 for block in built if block.type is BlockType.SUMMARY)
    session.block_count, session.total_tokens = len(built), sum(block.token_count for block in built)
    context_store().sessions.create(session, built)
    return session_service().load(TENANT, session.id)


def assembler() -> ContextAssembler:
    return ContextAssembler(context_store(), search_service())


def test_pinned_and_summaries_first_then_newest_in_session_order(aws):
    specs = [{"content": "pinned", "pinned": True}, {"type": "summary", "content": "sum"}]
    specs += [{"content": f"n{i}"} for i in range(10)]
    session = seed(specs)

    context = assembler().assemble(session, Selection(), budget=60)

    # n6 would fit too, but the newest blocks start at a step of the budget (see the next test)
    assert [block.content for block in context.blocks] == ["pinned", "sum", "n7", "n8", "n9"]
    assert context.token_count == 50


def test_blocks_leave_the_window_in_steps_so_the_prefix_survives_appends(aws):
    session = seed([{"content": f"old {i}", "tokens": 10} for i in range(40)])
    blocks = block_service()
    starts, sizes = [], []
    for turn in range(12):
        context = assembler().assemble(session_service().load(TENANT, session.id), Selection(), budget=100)
        keys = [block.order_key for block in context.blocks]
        newest = [block.order_key for block in context_store().blocks.newest(TENANT, session.hex, 200, None)]
        assert keys == sorted(newest[: len(keys)])  # always the newest blocks, whole
        assert 75 <= context.token_count <= 100  # a step is a quarter of the budget
        starts.append(keys[0])
        sizes.append(context.token_count)
        blocks.append(TENANT, session.id, [BlockIn(type=BlockType.NOTE, content=f"turn {turn} " + "w " * 6)])

    # one block a turn, about 10 tokens each: the window's start moves about once in 2.5 turns, not every turn
    assert len(set(starts)) <= 6 and len(set(sizes)) > 1


def test_tag_filters_and_explicit_ids(aws):
    session = seed(
        [
            {"content": "a", "tags": ["auth"]},
            {"content": "b", "tags": ["ui"]},
            {"content": "c", "tags": ["auth", "old"]},
        ]
    )
    everything = session_service().get(TENANT, session.id).block_ids

    context = assembler().assemble(
        session, Selection(block_ids=[everything[1]], include_by_tag=["auth"], exclude_by_tag=["old"]), budget=1000
    )

    assert [block.content for block in context.blocks] == ["a", "b"]


def test_explicit_block_of_another_session_is_refused(aws):
    import pytest

    from agentctx.errors import InvalidRequest

    first, second = seed([{"content": "a"}]), seed([{"content": "b"}])
    foreign = session_service().get(TENANT, second.id).block_ids[0]

    with pytest.raises(InvalidRequest):
        assembler().assemble(first, Selection(block_ids=[foreign]), budget=100)


def test_max_tokens_caps_the_budget_and_a_block_that_does_not_fit_stops_the_fill(aws):
    session = seed(
        [{"content": "small", "tokens": 5}, {"content": "big", "tokens": 50}, {"content": "new", "tokens": 5}]
    )

    context = assembler().assemble(session, Selection(max_tokens=20), budget=1000)

    assert [block.content for block in context.blocks] == ["new"]
    assert context.token_count == 5


def test_reads_grow_with_the_budget_not_the_session(aws):
    small = seed([{"content": f"n{i}"} for i in range(300)])
    large = seed([{"content": f"n{i}"} for i in range(3000)])
    counter = CallCounter()

    with counter.measure() as on_small:
        assembler().assemble(small, Selection(), budget=500)
    with counter.measure() as on_large:
        assembler().assemble(large, Selection(), budget=500)

    assert on_small["calls"] == on_large["calls"] <= 3


def test_auto_enrichment_adds_the_most_relevant_left_out_blocks(aws, index_blocks):
    specs = [{"content": "the database migration plan for postgres", "tokens": 10}]
    specs += [{"content": f"unrelated chatter {i}", "tokens": 10} for i in range(8)]
    specs += [{"content": "latest", "tokens": 10}]
    session = seed(specs)
    index_blocks()

    plain = assembler().assemble(session, Selection(max_tokens=10), budget=1000, prompt="postgres migration")
    enriched = assembler().assemble(
        session,
        Selection(max_tokens=20),
        budget=1000,
        prompt="postgres migration",
        enrichment=Enrichment.AUTO,
        enrichment_config=EnrichmentConfig(recency_bias=0.0, max_tokens=10),
    )

    assert [block.content for block in plain.blocks] == ["latest"]
    assert [block.content for block in enriched.blocks] == ["latest", "the database migration plan for postgres"]
    assert enriched.enriched_ids == [enriched.blocks[1].id] and enriched.token_count == 20


def test_enrichment_fits_inside_the_callers_ceiling(aws, index_blocks):
    session = seed([{"content": f"postgres note {i}", "tokens": 100} for i in range(30)])
    index_blocks()

    for enrichment_budget in (0, 150, 4_000):
        context = assembler().assemble(
            session,
            Selection(max_tokens=2_000),
            budget=100_000,
            prompt="postgres",
            enrichment=Enrichment.AUTO,
            enrichment_config=EnrichmentConfig(max_tokens=enrichment_budget),
        )

        assert context.token_count == sum(block.token_count for block in context.blocks) <= 2_000
        assert sum(block.token_count for block in context.enriched) <= enrichment_budget


def test_manual_enrichment_adds_the_tenants_preferences(aws):
    seed([{"content": "always use tabs"}, {"content": "answer in French"}], tags=["preferences"])
    session = seed([{"content": "work"}])

    none = assembler().assemble(session, Selection(), budget=1000, enrichment=Enrichment.NONE)
    manual = assembler().assemble(
        session,
        Selection(),
        budget=1000,
        enrichment=Enrichment.MANUAL,
        enrichment_config=EnrichmentConfig(include_preferences=True),
    )

    assert [block.content for block in none.blocks] == ["work"]
    assert [block.content for block in manual.blocks] == ["work", "always use tabs", "answer in French"]
