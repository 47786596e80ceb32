"""Requests whose work does not grow with the session: the same DynamoDB calls at two sizes, bounded responses,
filters that read only matching blocks, and a delete purged in the background.

The service's size thresholds are lowered here, so that a "large" session of a few hundred blocks crosses them as
one of thousands crosses the real ones; `make bench` (tests/benchmarks/bounded_bench.py) runs the real sizes. A fork
copies its first 100 source blocks at once whatever the thresholds, so its sessions stay above 100 blocks.
"""

import json
import time
from collections import Counter
from typing import Any

import pytest

from agentctx import ids
from agentctx.domain import Block, BlockType, Session, utc_now
from agentctx.services.context import ContextAssembler, Selection
from agentctx.wiring import context_store
from tests.conftest import InstantPacer
from tests.events import LambdaContext
from tests.integration.test_sessions_api import append, create_session, note
from tests.template.conftest import functions, load_handler, sam_template

LISTED_IDS = 10  # a session's view lists the ids of its first 1,000 blocks and pinned blocks (services/sessions.py)
SCANNED = 40  # a filtered listing reads at most 1,000 keys a call (store/block_listing.py)
ASSEMBLY_PAGE = 20  # context assembly reads its candidates 100 at a time (services/context.py)


@pytest.fixture(autouse=True)
def lowered_thresholds(monkeypatch: pytest.MonkeyPatch, instant_pacing: InstantPacer) -> None:
    """The thresholds lowered, and the background jobs' pacing counted instead of slept."""
    monkeypatch.setattr("agentctx.services.sessions.MAX_LISTED_IDS", LISTED_IDS)
    monkeypatch.setattr("agentctx.store.block_listing.MAX_SCANNED", SCANNED)
    monkeypatch.setattr("agentctx.services.context.PAGE_SIZE", ASSEMBLY_PAGE)


def seed(api, count: int, *, pinned_every: int = 0, tag_every: int = 0, summary_every: int = 0) -> Session:
    """A session of the caller's tenant with `count` notes of 10 tokens, written through the store in batches:
    every `pinned_every`-th pinned, every `tag_every`-th tagged `rare` (the rest `common`), every
    `summary_every`-th a summary."""
    now = utc_now()
    session = Session(tenant_id=api.tenant_id, hex=ids.new_hex(), name="big", created_at=now, updated_at=now)
    blocks = []
    for i in range(count):
        summary = bool(summary_every) and i % summary_every == 0
        blocks.append(
            Block(
                session_hex=session.hex,
                order_key=ids.new_order_key(),
                type=BlockType.SUMMARY if summary else BlockType.NOTE,
                content=f"block {i}",
                token_count=10,
                tags=["rare"] if tag_every and i % tag_every == 0 else ["common"],
                pinned=bool(pinned_every) and i % pinned_every == 0,
                importance=0.5,
                created_at=now,
            )
        )
    session.block_count, session.total_tokens = count, 10 * count
    session.pinned_count = sum(block.pinned for block in blocks)
    session.summary_count = sum(block.type is BlockType.SUMMARY for block in blocks)
    context_store().sessions.create(session, blocks)
    return session


class ContextTableCalls:
    """Counts the DynamoDB calls on the context table by API (the tenants table's key, quota and usage reads are
    cached for a time, so they are left out to compare requests)."""

    def __init__(self) -> None:
        from agentctx.store.dynamo import dynamodb_client

        self.calls: Counter[str] = Counter()
        dynamodb_client().meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if "test-context" in json.dumps(params, default=str):
            self.calls[model.name] += 1

    def detail(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in sorted(self.calls.items()))


def calls_of(request) -> dict:  # type: ignore[no-untyped-def]
    """The context-table calls one request makes, by API, and its response."""
    counter = ContextTableCalls()
    response = request()
    return {"detail": counter.detail(), "response": response}


def test_get_session_lists_at_most_1000_ids_with_the_same_calls_and_says_where_the_rest_are(api):
    small, large = seed(api, 8, pinned_every=2), seed(api, LISTED_IDS + 3, pinned_every=1)

    on_small = calls_of(lambda: api.get(f"/v1/aip/sessions/{small.id}"))
    on_large = calls_of(lambda: api.get(f"/v1/aip/sessions/{large.id}"))

    assert on_small["detail"] == on_large["detail"]
    small_body, large_body = on_small["response"].json(), on_large["response"].json()
    assert len(small_body["data"]["blocks"]) == 8 and len(small_body["data"]["pinnedBlocks"]) == 4
    assert small_body["meta"]["blocksTruncated"] is False and small_body["meta"]["blocksNext"] is None
    data, meta = large_body["data"], large_body["meta"]
    assert len(data["blocks"]) == len(data["pinnedBlocks"]) == LISTED_IDS
    assert meta["blocksTruncated"] is True and meta["pinnedBlocksTruncated"] is True
    assert data["metrics"]["blockCount"] == LISTED_IDS + 3
    rest, page = [], meta["blocksNext"] + "&limit=2"
    while page:
        listed = api.get(page).json()
        rest += [block["id"] for block in listed["data"]]
        cursor = listed["meta"].get("nextCursor")
        page = f"/v1/aip/sessions/{large.id}/blocks?limit=2&cursor={cursor}" if cursor else None
    everything = data["blocks"] + rest
    assert len(everything) == len(set(everything)) == LISTED_IDS + 3 and everything == sorted(everything)
    pinned_rest = api.get(meta["pinnedBlocksNext"] + "&limit=2").json()
    assert pinned_rest["data"][0]["id"] == rest[0] and all(block["metadata"]["pinned"] for block in pinned_rest["data"])


def test_filtered_listings_read_only_matching_blocks(api):
    small = seed(api, 10, pinned_every=5, tag_every=5, summary_every=5)
    large = seed(api, 3 * SCANNED, pinned_every=SCANNED, tag_every=SCANNED, summary_every=3 * SCANNED // 2)
    for session in (small, large):
        append(api, session.id, {"type": "file", "content": {"path": "a.py", "content": "x"}, "tags": ["rare"]})

    def listing(session: Session, query: str) -> dict:
        return calls_of(lambda: api.get(f"/v1/aip/sessions/{session.id}/blocks?{query}"))

    for query in ("pinned=true", "tag=rare", "type=summary", "type=file", "tag=rare&type=note"):
        on_small, on_large = listing(small, query), listing(large, query)
        assert on_small["detail"] == on_large["detail"], query
        for session, measured in ((small, on_small), (large, on_large)):
            body = measured["response"].json()
            assert [block["id"] for block in body["data"]] == matching(api, session, query), query
            assert body["meta"]["hasMore"] is False
    assert len(matching(api, large, "tag=rare")) == 4 and len(matching(api, large, "pinned=true")) == 3


def matching(api, session: Session, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What a filter should list, by reading every block of the session (the slow way)."""
    wanted = dict(part.split("=") for part in query.split("&"))
    everything = context_store().blocks.list_page(
        api.tenant_id, session.hex, limit=10**6, after=None, with_content=False
    )
    return [
        block.id
        for block in everything.items
        if ("tag" not in wanted or wanted["tag"] in block.tags)
        and ("type" not in wanted or block.type.value == wanted["type"])
        and ("pinned" not in wanted or block.pinned)
    ]


def test_a_filter_with_many_matches_pages_and_a_combined_filter_stops_at_its_read_limit(api):
    session = seed(api, SCANNED + 8, tag_every=1)  # every block tagged `rare`, none pinned

    first = api.get(f"/v1/aip/sessions/{session.id}/blocks?tag=rare&limit=8").json()
    none_pinned = api.get(f"/v1/aip/sessions/{session.id}/blocks?tag=rare&pinned=true&limit=2").json()

    assert len(first["data"]) == 8 and first["meta"]["hasMore"] is True
    assert none_pinned["data"] == [] and none_pinned["meta"]["hasMore"] is True  # read SCANNED tag entries, then stop
    rest = api.get(
        f"/v1/aip/sessions/{session.id}/blocks?tag=rare&pinned=true&limit=2&cursor={none_pinned['meta']['nextCursor']}"
    ).json()
    assert rest["data"] == [] and rest["meta"]["hasMore"] is False


def test_filter_entries_follow_patches_and_deletes(api):
    session = create_session(api)
    first, second = append(api, session["id"], note("a", tags=["x"]), note("b", tags=["y"], pinned=True))

    api.patch(f"/v1/aip/blocks/{first['id']}", json={"tags": ["y"], "pinned": True})
    api.patch(f"/v1/aip/blocks/{second['id']}", json={"pinned": False})
    api.delete(f"/v1/aip/blocks/{second['id']}")

    def ids_of(query: str) -> list[str]:
        return [block["id"] for block in api.get(f"/v1/aip/sessions/{session['id']}/blocks?{query}").json()["data"]]

    assert ids_of("tag=x") == [] and ids_of("tag=y") == [first["id"]] and ids_of("pinned=true") == [first["id"]]
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["pinnedBlocks"] == [first["id"]]


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
    assembler = ContextAssembler(context_store(), enrichment_candidates=50)

    measured = []
    for session in (small, large):
        loaded = context_store().sessions.get(api.tenant_id, session.hex)
        assert loaded is not None
        appended = calls_of(lambda session=session: append(api, session.id, note("one more", pinned=True)))
        counter = ContextTableCalls()
        context = assembler.assemble(loaded, Selection(include_by_tag=["rare"]), budget=100)
        measured.append((appended["detail"], counter.detail()))
        assert 90 <= context.token_count <= 100 and all(block.content for block in context.blocks)
    assert measured[0] == measured[1]
    item = context_store().sessions.get(api.tenant_id, large.hex)
    assert item is not None and item.pinned_count == 101 and item.summary_count == 40


# ----- delete and purge -----


def run_session_jobs(aws, until_empty: bool = True) -> int:
    """Deliver the session job queue's messages to the function the template names, as SQS would."""
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    handler = load_handler(functions(sam_template())["SessionJobFunction"])
    delivered = 0
    while True:
        received = sqs_client().receive_message(QueueUrl=aws["SessionJobQueue"], MaxNumberOfMessages=1)
        messages = received.get("Messages", [])
        if not messages:
            return delivered
        response = handler(sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:test-session-jobs"), LambdaContext())
        assert response["batchItemFailures"] == []
        sqs_client().delete_message(QueueUrl=aws["SessionJobQueue"], ReceiptHandle=messages[0]["ReceiptHandle"])
        delivered += 1
        if not until_empty:
            return delivered


def partition_items(tenant_id: str, session_hex: str) -> list[str]:
    from agentctx.store.dynamo import dynamodb_client
    from agentctx.store.keys import session_pk

    response = dynamodb_client().query(
        TableName="test-context",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": session_pk(tenant_id, session_hex)}},
        ProjectionExpression="sk",
    )
    return [item["sk"]["S"] for item in response["Items"]]


def stored_tokens(api) -> int:  # type: ignore[no-untyped-def]
    return api.get("/v1/usage?period=day").json()["data"]["storedTokens"]


def test_delete_costs_the_same_at_any_size_and_the_purge_finishes_in_the_background(api, aws):
    small, large = seed(api, 10, pinned_every=2, tag_every=3), seed(api, 150, pinned_every=2, tag_every=3)

    on_small = calls_of(lambda: api.delete(f"/v1/aip/sessions/{small.id}"))
    on_large = calls_of(lambda: api.delete(f"/v1/aip/sessions/{large.id}"))

    assert on_small["detail"] == on_large["detail"]
    assert on_large["response"].json()["data"] == {"deleted": True}
    assert api.get(f"/v1/aip/sessions/{large.id}").status_code == 404
    first_block = ids.block_id(large.hex, partition_items(api.tenant_id, large.hex)[0][2:])
    assert api.get(f"/v1/aip/blocks/{first_block}").status_code == 404  # gone for readers before the purge
    assert len(partition_items(api.tenant_id, large.hex)) > 150

    assert run_session_jobs(aws) >= 2  # one purge each (and its continuation, if one invocation was not enough)
    assert partition_items(api.tenant_id, large.hex) == partition_items(api.tenant_id, small.hex) == []


def test_purge_counts_out_stored_tokens_once(api, aws):
    session = create_session(api)
    append(api, session["id"], note("something to store"), note("and more", tags=["x"], pinned=True))
    assert stored_tokens(api) > 0

    api.delete(f"/v1/aip/sessions/{session['id']}")
    run_session_jobs(aws)
    hex_ = ids.parse_session_id(session["id"])
    from agentctx.wiring import session_service

    assert session_service().purge(api.tenant_id, hex_, time.monotonic() + 5)  # a duplicate delivery: nothing more

    assert stored_tokens(api) == 0


def test_an_interrupted_purge_resumes_and_a_retried_delete_queues_it_again(api, aws, instant_pacing):
    from agentctx.store.queue import sqs_client
    from agentctx.wiring import context_store as store

    session = seed(api, 60, tag_every=2)
    api.delete(f"/v1/aip/sessions/{session.id}")
    sqs_client().purge_queue(QueueUrl=aws["SessionJobQueue"])  # the purge job was lost
    before = len(partition_items(api.tenant_id, session.hex))

    deadline = instant_pacing.now() + 5
    assert store().purge.run(api.tenant_id, session.hex, deadline, write_units_per_second=10) is None
    # paced: at 10 units a second a call of 25 deletes takes 2.5 s, so two calls fit in 5 s, not the 120 items
    assert len(partition_items(api.tenant_id, session.hex)) == before - 50

    again = api.delete(f"/v1/aip/sessions/{session.id}")

    assert again.status_code == 404  # the session is gone; its retry still finishes the purge
    assert run_session_jobs(aws) >= 1
    assert partition_items(api.tenant_id, session.hex) == []
    assert api.delete(f"/v1/aip/sessions/{session.id}").status_code == 404
    assert run_session_jobs(aws) == 0  # nothing left to purge, nothing queued


def test_writes_to_a_deleted_session_fail_while_its_purge_is_pending(api, aws):
    session = create_session(api)
    (block,) = append(api, session["id"], note("x"))
    api.delete(f"/v1/aip/sessions/{session['id']}")

    assert api.post(f"/v1/aip/sessions/{session['id']}/blocks", json={"blocks": [note("late")]}).status_code == 404
    assert api.patch(f"/v1/aip/blocks/{block['id']}", json={"pinned": True}).status_code == 404
    assert api.get(f"/v1/aip/sessions/{session['id']}/blocks").status_code == 404


@pytest.mark.parametrize("message", [{"kind": "purge", "tenantId": "org_x", "sessionHex": "a" * 32}])
def test_a_purge_of_a_session_that_was_never_deleted_does_nothing(api, aws, message):
    session = create_session(api)
    append(api, session["id"], note("keep"))
    handler = load_handler(functions(sam_template())["SessionJobFunction"])
    body = json.dumps(message | {"tenantId": api.tenant_id, "sessionHex": ids.parse_session_id(session["id"])})
    event = {
        "Records": [{"messageId": "m1", "receiptHandle": "r", "body": body, "attributes": {}, "eventSource": "aws:sqs"}]
    }

    assert handler(event, LambdaContext())["batchItemFailures"] == []
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["blockCount"] == 1


# ----- fork -----


def fork_by_rare(api, source: Session) -> dict:  # type: ignore[no-untyped-def]
    return calls_of(
        lambda: api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]})
    )


def listed_ids(api, session_id: str, query: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    ids_, page = [], f"/v1/aip/sessions/{session_id}/blocks?limit=200&{query}"
    while page:
        body = api.get(page).json()
        ids_ += [block["id"] for block in body["data"]]
        cursor = body["meta"].get("nextCursor")
        page = f"/v1/aip/sessions/{session_id}/blocks?limit=200&{query}&cursor={cursor}" if cursor else None
    return ids_


def test_fork_costs_the_same_at_any_size_and_is_usable_at_once(api, aws):
    small = seed(api, 150, tag_every=10, pinned_every=100)
    large = seed(api, 300, tag_every=10, pinned_every=100)

    on_small, on_large = fork_by_rare(api, small), fork_by_rare(api, large)

    assert on_small["detail"] == on_large["detail"]
    fork = on_large["response"].json()
    assert on_large["response"].status_code == 201 and fork["data"]["forkedFrom"] == large.id
    fork_id, fork_hex = fork["data"]["id"], ids.parse_session_id(fork["data"]["id"])
    kept = [i for i in range(300) if i % 10 == 0 or i % 100 == 0]
    expected = [ids.block_id(fork_hex, key) for key in source_keys(api, large, kept)]
    # Before the copy has run: listing, filters, a block by id and assembly read through the source.
    assert listed_ids(api, fork_id) == expected
    assert listed_ids(api, fork_id, "pinned=true") == [expected[0], expected[10], expected[20]]
    assert api.get(f"/v1/aip/blocks/{expected[-1]}").json()["data"]["content"] == "block 290"
    (appended,) = append(api, fork_id, note("fork's own", tags=["rare"]))
    append(api, large.id, note("source's later block", tags=["rare"]))
    loaded = context_store().sessions.get(api.tenant_id, fork_hex)
    assert loaded is not None and loaded.copy is not None
    context = ContextAssembler(context_store(), 50).assemble(loaded, Selection(include_by_tag=["rare"]), budget=45)
    chosen = [block.id for block in context.blocks]
    assert appended["id"] in chosen and expected[-1] in chosen and expected[20] in chosen  # newest, and pinned
    assert set(chosen) <= set(expected) | {appended["id"]} and all(block.content for block in context.blocks)

    run_session_jobs(aws)

    copied = context_store().sessions.get(api.tenant_id, fork_hex)
    assert copied is not None and copied.copy is None
    assert copied.block_count == len(expected) + 1 and copied.pinned_count == 3
    assert listed_ids(api, fork_id) == expected + [appended["id"]]
    assert listed_ids(api, fork_id, "tag=rare") == expected + [appended["id"]]
    assert partition_items(api.tenant_id, large.hex).count(f"COPY#{fork_hex}") == 0


def source_keys(api, session: Session, indexes: list[int]) -> list[str]:  # type: ignore[no-untyped-def]
    everything = context_store().blocks.list_page(
        api.tenant_id, session.hex, limit=10**6, after=None, with_content=False
    )
    return [everything.items[i].order_key for i in indexes]


def test_a_fork_is_isolated_from_later_source_writes_and_copies_once_when_interrupted(api, aws):
    from agentctx.wiring import session_service

    source = seed(api, 300, tag_every=3)
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]}).json()["data"]
    fork_hex = ids.parse_session_id(fork["id"])
    append(api, source.id, note("later", tags=["rare"]))

    for _ in range(2):  # interrupted after one page each time, and a duplicate delivery of the same step
        assert session_service().copy(api.tenant_id, fork_hex, source.hex, time.monotonic() + 30, pages=1) is False
    run_session_jobs(aws)

    copied = context_store().sessions.get(api.tenant_id, fork_hex)
    assert copied is not None and copied.copy is None and copied.block_count == 100
    assert len(set(listed_ids(api, fork["id"]))) == len(listed_ids(api, fork["id"])) == 100
    assert api.get(f"/v1/aip/sessions/{fork['id']}").json()["data"]["metrics"]["blockCount"] == 100


def test_a_source_deleted_while_its_fork_copies_is_purged_after_the_copy(api, aws):
    source = seed(api, 200, tag_every=2)
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]}).json()["data"]
    fork_hex = ids.parse_session_id(fork["id"])

    api.delete(f"/v1/aip/sessions/{source.id}")
    from agentctx.wiring import session_service

    assert session_service().purge(api.tenant_id, source.hex, time.monotonic() + 30) is False  # waits for the copy
    assert len(listed_ids(api, fork["id"])) == 100  # still read through the deleted source
    run_session_jobs(aws)

    assert partition_items(api.tenant_id, source.hex) == []
    assert context_store().sessions.get(api.tenant_id, fork_hex).block_count == 100  # type: ignore[union-attr]


def test_a_fork_deleted_while_copying_leaves_nothing_behind(api, aws):
    source = seed(api, 200, tag_every=2)
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]}).json()["data"]
    fork_hex = ids.parse_session_id(fork["id"])

    api.delete(f"/v1/aip/sessions/{fork['id']}")
    run_session_jobs(aws)

    assert partition_items(api.tenant_id, fork_hex) == []
    assert not [sk for sk in partition_items(api.tenant_id, source.hex) if sk.startswith("COPY#")]
    assert api.get(f"/v1/aip/sessions/{source.id}").json()["data"]["metrics"]["blockCount"] == 200


def test_a_copy_job_for_a_fork_that_never_committed_gives_up(api, aws):
    from agentctx.store.queue import sqs_client
    from agentctx.wiring import session_service

    source = seed(api, 10)
    session_service().queue_copy(api.tenant_id, "f" * 32, source.hex, attempt=11)

    assert run_session_jobs(aws) == 2  # looked again once (its twelfth try), then dropped
    queue = sqs_client().get_queue_attributes(QueueUrl=aws["SessionJobQueue"], AttributeNames=["All"])["Attributes"]
    assert queue["ApproximateNumberOfMessages"] == "0"
    assert partition_items(api.tenant_id, "f" * 32) == []


def test_a_session_still_being_copied_is_not_forked_again(api, aws):
    source = seed(api, 200, tag_every=2)
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]}).json()["data"]

    again = api.post(f"/v1/aip/sessions/{fork['id']}/fork", json={"name": "g"})

    assert again.status_code == 409
    run_session_jobs(aws)
    assert api.post(f"/v1/aip/sessions/{fork['id']}/fork", json={"name": "g"}).status_code == 201


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
