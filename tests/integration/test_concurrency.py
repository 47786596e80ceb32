"""100 appends to one session at once: every block stored once, in one total order, and the metrics exact."""

from concurrent.futures import ThreadPoolExecutor

from agentctx.schemas.blocks import BlockIn
from agentctx.schemas.sessions import SessionCreate
from agentctx.wiring import block_service, session_service


def test_concurrent_appends_keep_every_block_and_exact_metrics(aws):
    tenant = "org_" + "c" * 32
    session = session_service().create(tenant, SessionCreate(name="busy")).session

    def append(i: int):
        (block,) = block_service().append(
            tenant, session.id, [BlockIn(type="note", content=f"note {i} " * (i % 7 + 1))]
        )
        return block

    with ThreadPoolExecutor(max_workers=16) as pool:
        appended = list(pool.map(append, range(100)))

    view = session_service().get(tenant, session.id)
    assert sorted(view.block_ids) == sorted(block.id for block in appended)
    assert len(set(view.block_ids)) == 100
    assert view.block_ids == sorted(view.block_ids, key=lambda block_id: block_id[-26:])
    assert view.session.block_count == 100
    assert view.session.total_tokens == sum(block.token_count for block in appended)
