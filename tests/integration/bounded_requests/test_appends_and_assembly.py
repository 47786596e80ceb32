"""Writes and context assembly that do not grow with the session: a block's filter entries written with it, however
many, a batch split by the actions it takes, and append and assembly at one cost whatever the pinned blocks and
summaries."""

from agentctx import ids
from agentctx.domain import Block, BlockType, utc_now
from agentctx.services.context import ContextAssembler, Selection
from agentctx.wiring import context_store
from tests.integration.bounded_requests.helpers import ASSEMBLY_PAGE, calls_of, listed_ids, seed
from tests.integration.test_sessions_api import append, create_session, note


def test_a_patch_swapping_fifty_tags_for_fifty_others_is_kept_whole(api):
    session = create_session(api)
    (block,) = append(api, session["id"], note("many", tags=[f"old{i}" for i in range(50)]))

    response = api.patch(f"/v1/aip/blocks/{block['id']}", json={"tags": [f"new{i}" for i in range(50)], "pinned": True})

    assert response.status_code == 200
    listed = api.get(f"/v1/aip/sessions/{session['id']}/blocks?tag=new49").json()["data"]
    assert [b["id"] for b in listed] == [block["id"]]
    assert api.get(f"/v1/aip/sessions/{session['id']}/blocks?tag=old0").json()["data"] == []


def test_a_batch_is_split_by_the_actions_its_blocks_and_entries_take(api):
    session = create_session(api)
    tagged = [note(f"n{i}", tags=[f"t{j}" for j in range(30)], pinned=i % 2 == 0) for i in range(10)]

    created = append(api, session["id"], *tagged)

    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["blocks"] == [block["id"] for block in created] and len(view["pinnedBlocks"]) == 5
    assert len(api.get(f"/v1/aip/sessions/{session['id']}/blocks?tag=t29").json()["data"]) == 10


def test_append_and_assembly_cost_the_same_whatever_the_pinned_blocks_and_summaries(api):
    # the budget takes about 12 pinned blocks and summaries: the small session's fit in one page of each
    small = seed(api, 40, pinned_every=4, summary_every=10, tag_every=8)
    large = seed(api, 20 * ASSEMBLY_PAGE, pinned_every=4, summary_every=10, tag_every=80)
    assembler = ContextAssembler(context_store(), None)

    measured = []
    for session in (small, large):
        loaded = context_store().sessions.get(api.tenant_id, session.hex)
        assert loaded is not None
        appended = calls_of(lambda session=session: append(api, session.id, note("one more", pinned=True)))
        assembled = calls_of(lambda loaded=loaded: assembler.assemble(loaded, Selection(include_by_tag=["rare"]), 100))
        context = assembled["response"]
        measured.append((appended["detail"], assembled["detail"]))
        assert 90 <= context.token_count <= 100 and all(block.content for block in context.blocks)
    assert measured[0] == measured[1]
    item = context_store().sessions.get(api.tenant_id, large.hex)
    assert item is not None and item.pinned_count == 101 and item.summary_count == 40


def test_an_invocation_whose_tagged_blocks_pass_one_transaction_is_saved_whole(api):
    session = seed(api, 1)
    now = utc_now()
    blocks = [
        Block(
            session.hex,
            ids.new_order_key(),
            BlockType.TOOL_RESULT,
            {"tool": "t", "input": {}, "output": "x"},
            5,
            ["auth", "ui"],
            False,
            0.4,
            now,
        )
        for _ in range(50)
    ]
    record = {"orderKey": ids.new_order_key(), "status": "completed"}

    context_store().block_writes.record_invocation(api.tenant_id, session.hex, blocks, record, now)

    saved = context_store().sessions.get(api.tenant_id, session.hex)
    assert saved is not None and saved.block_count == 51 and saved.invocation_count == 1
    assert len(listed_ids(api, session.id, "tag=ui")) == 50
    assert context_store().records.get_invocation(api.tenant_id, session.hex, record["orderKey"]) == record
