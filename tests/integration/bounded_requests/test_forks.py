"""A fork at one cost at any size, usable at once and copied in the background: isolated from later source writes,
copied once when interrupted, safe against a delete of either side, and not forked again while it copies."""

from agentctx import ids
from agentctx.domain import Session
from agentctx.services.context import ContextAssembler, Selection
from agentctx.store.purge import PurgeOutcome
from agentctx.wiring import context_store
from tests.integration.bounded_requests.helpers import calls_of, listed_ids, partition_items, run_session_jobs, seed
from tests.integration.test_sessions_api import append, note


def fork_by_rare(api, source: Session) -> dict:  # type: ignore[no-untyped-def]
    return calls_of(
        lambda: api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]})
    )


def test_fork_costs_the_same_at_any_size_and_is_usable_at_once(api, aws):
    small = seed(api, 150, tag_every=2, pinned_every=100)  # 75 and 150 kept: more than the fork's first batch
    large = seed(api, 300, tag_every=2, pinned_every=100)

    on_small, on_large = fork_by_rare(api, small), fork_by_rare(api, large)

    assert on_small["detail"] == on_large["detail"]
    fork = on_large["response"].json()
    assert on_large["response"].status_code == 201 and fork["data"]["forkedFrom"] == large.id
    fork_id, fork_hex = fork["data"]["id"], ids.parse_session_id(fork["data"]["id"])
    kept = list(range(0, 300, 2))
    expected = [ids.block_id(fork_hex, key) for key in source_keys(api, large, kept)]
    # Before the copy has run: listing, filters, a block by id and assembly read through the source.
    assert listed_ids(api, fork_id) == expected
    assert listed_ids(api, fork_id, "pinned=true") == [expected[0], expected[50], expected[100]]
    assert api.get(f"/v1/aip/blocks/{expected[-1]}").json()["data"]["content"] == "block 298"
    (appended,) = append(api, fork_id, note("fork's own", tags=["rare"]))
    append(api, large.id, note("source's later block", tags=["rare"]))
    loaded = context_store().sessions.get(api.tenant_id, fork_hex)
    assert loaded is not None and loaded.copy is not None
    context = ContextAssembler(context_store(), 50).assemble(loaded, Selection(include_by_tag=["rare"]), budget=45)
    chosen = [block.id for block in context.blocks]
    assert appended["id"] in chosen and expected[-1] in chosen and expected[100] in chosen  # newest, and pinned
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


def test_a_fork_is_isolated_from_later_source_writes_and_copies_once_when_interrupted(api, aws, instant_pacing):
    from agentctx.wiring import session_service

    source = seed(api, 600, tag_every=3)  # 200 kept: more than the fork's first batch and two more
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]}).json()["data"]
    fork_hex = ids.parse_session_id(fork["id"])
    append(api, source.id, note("later", tags=["rare"]))

    for _ in range(2):  # runs that stop after one batch each, the queued job's still to come
        assert session_service().copy(api.tenant_id, fork_hex, seconds=0.001) is False
    run_session_jobs(aws)

    copied = context_store().sessions.get(api.tenant_id, fork_hex)
    assert copied is not None and copied.copy is None and copied.block_count == 200
    assert len(set(listed_ids(api, fork["id"]))) == len(listed_ids(api, fork["id"])) == 200
    assert api.get(f"/v1/aip/sessions/{fork['id']}").json()["data"]["metrics"]["blockCount"] == 200


def test_a_source_deleted_while_its_fork_copies_is_purged_after_the_copy(api, aws):
    source = seed(api, 200, tag_every=2)
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]}).json()["data"]
    fork_hex = ids.parse_session_id(fork["id"])

    api.delete(f"/v1/aip/sessions/{source.id}")
    from agentctx.wiring import session_service

    assert session_service().purge(api.tenant_id, source.hex, 30) is PurgeOutcome.WAITING
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


def test_a_copy_job_for_a_fork_that_is_not_there_ends_at_once(api, aws):
    from agentctx.store.session_jobs import copy_job
    from agentctx.wiring import session_job_queue

    source = seed(api, 10)
    session_job_queue().send(copy_job(api.tenant_id, "f" * 32, source.hex))

    assert run_session_jobs(aws) == 1  # jobs are queued only for forks that committed: this one was deleted
    assert partition_items(api.tenant_id, "f" * 32) == []


def test_a_session_still_being_copied_is_not_forked_again(api, aws):
    source = seed(api, 200, tag_every=2)
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]}).json()["data"]

    again = api.post(f"/v1/aip/sessions/{fork['id']}/fork", json={"name": "g"})

    assert again.status_code == 409 and again.headers["Retry-After"] == "5"  # a conflict that passes
    assert again.json()["error"]["details"] == {"retryAfterSeconds": 5}
    run_session_jobs(aws)
    assert api.post(f"/v1/aip/sessions/{fork['id']}/fork", json={"name": "g"}).status_code == 201


def test_a_sparse_fork_reads_only_what_it_keeps_and_its_first_page_is_whole(api, aws):
    source = seed(api, 2_000, tag_every=10)  # 200 blocks tagged `rare`, far apart, beyond one listing's key reads

    fork = fork_by_rare(api, source)
    fork_id = fork["response"].json()["data"]["id"]
    page = api.get(f"/v1/aip/sessions/{fork_id}/blocks?limit=200").json()

    loaded = context_store().sessions.get(api.tenant_id, ids.parse_session_id(fork_id))
    assert loaded is not None and loaded.copy is not None  # read through the source
    assert len(page["data"]) == 200 and page["meta"].get("nextCursor") is None
    kept = source_keys(api, source, list(range(0, 2_000, 10)))
    assert [block["id"] for block in page["data"]] == [ids.block_id(loaded.hex, key) for key in kept]
    assert fork["detail"] == fork_by_rare(api, seed(api, 1_000, tag_every=5))["detail"]  # the same calls
