"""Reads that do not grow with the session: get session lists a bounded number of ids and says where the rest are;
filtered listings read only matching blocks, page, stop at their read limit, and follow patches and deletes."""

from agentctx.domain import Session
from agentctx.wiring import context_store
from tests.integration.bounded_requests.helpers import LISTED_IDS, SCANNED, calls_of, seed
from tests.integration.test_sessions_api import append, create_session, note


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
