"""Context blocks: the AIP block shape, batches, listing, patching and deleting, with exact session metrics."""

import pytest

from agentctx.domain import BlockType, render_block_text
from agentctx.tokens import count_tokens
from tests.integration.test_sessions_api import append, create_session, note


def session_metrics(api, session_id):
    return api.get(f"/v1/aip/sessions/{session_id}").json()["data"]["metrics"]


CONTENT_BY_TYPE = {
    "conversation": [{"role": "user", "content": "How do refresh tokens work?"}],
    "file": {"path": "src/auth.ts", "content": "export const login = () => {}", "language": "typescript"},
    "diff": {"path": "src/auth.ts", "diff": "@@ -1 +1 @@\n-a\n+b"},
    "event": {"kind": "deploy", "ok": True},
    "note": "Use JWT",
    "summary": "Earlier we chose JWT.",
    "tool_result": {"tool": "grep", "input": {"pattern": "login"}, "output": "src/auth.ts:1"},
}


@pytest.mark.parametrize("block_type", sorted(CONTENT_BY_TYPE))
def test_post_block_answers_the_aip_block_shape(api, block_type):
    session = create_session(api)

    response = api.post(
        "/v1/aip/blocks",
        json={"sessionId": session["id"], "type": block_type, "content": CONTENT_BY_TYPE[block_type], "tags": ["x"]},
    )

    assert response.status_code == 201, response.text
    block = response.json()["data"]
    assert set(block) == {"id", "sessionId", "type", "content", "metadata", "createdAt"}
    assert block["id"].startswith("blk_") and block["sessionId"] == session["id"]
    assert block["content"] == CONTENT_BY_TYPE[block_type]
    expected_tokens = count_tokens(render_block_text(BlockType(block_type), CONTENT_BY_TYPE[block_type]))
    assert block["metadata"] == {
        "tokenCount": expected_tokens,
        "tags": ["x"],
        "pinned": False,
        "importance": block["metadata"]["importance"],
        "compactionLevel": 0,
    }
    assert 0 <= block["metadata"]["importance"] <= 1
    assert api.get(f"/v1/aip/blocks/{block['id']}").json()["data"] == block
    assert session_metrics(api, session["id"])["totalTokens"] == expected_tokens


def test_content_that_does_not_match_its_type_is_422_and_stores_nothing(api):
    session = create_session(api)

    for block_type, content in [("conversation", "just text"), ("file", {"path": "a"}), ("note", {"x": 1})]:
        response = api.post("/v1/aip/blocks", json={"sessionId": session["id"], "type": block_type, "content": content})
        assert response.status_code == 422, (block_type, response.text)

    assert session_metrics(api, session["id"])["blockCount"] == 0


def test_given_importance_is_kept(api):
    session = create_session(api)

    (block,) = append(api, session["id"], note("x", importance=0.95))

    assert block["metadata"]["importance"] == 0.95


def test_block_over_size_limit_is_413_naming_the_limit(api):
    session = create_session(api)

    response = api.post(
        "/v1/aip/blocks", json={"sessionId": session["id"], "type": "note", "content": "x" * (256 * 1024 + 1)}
    )

    assert response.status_code == 413
    assert "262144 bytes" in response.json()["error"]["message"]
    assert session_metrics(api, session["id"])["blockCount"] == 0


def test_batch_with_one_bad_block_stores_none(api):
    session = create_session(api)

    response = api.post(
        f"/v1/aip/sessions/{session['id']}/blocks",
        json={"blocks": [note("fine"), {"type": "note", "content": "x" * (300 * 1024)}]},
    )

    assert response.status_code == 413
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["blocks"] == []


def test_batch_of_100_is_stored_in_order_with_exact_metrics(api):
    session = create_session(api)

    created = append(api, session["id"], *[note(f"note number {i}") for i in range(100)])

    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["blocks"] == [block["id"] for block in created]
    assert view["metrics"]["blockCount"] == 100
    assert view["metrics"]["totalTokens"] == sum(block["metadata"]["tokenCount"] for block in created)


def test_batch_over_100_blocks_is_422(api):
    session = create_session(api)

    response = api.post(f"/v1/aip/sessions/{session['id']}/blocks", json={"blocks": [note("x")] * 101})

    assert response.status_code == 422


def test_append_to_missing_session_is_404(api):
    response = api.post("/v1/aip/blocks", json={"sessionId": "sess_" + "1" * 32, "type": "note", "content": "x"})

    assert response.status_code == 404


def test_list_blocks_in_session_order_without_content_by_default(api):
    session = create_session(api)
    created = append(api, session["id"], *[note(f"n{i}", tags=["even" if i % 2 == 0 else "odd"]) for i in range(5)])

    listed = api.get(f"/v1/aip/sessions/{session['id']}/blocks").json()

    assert [block["id"] for block in listed["data"]] == [block["id"] for block in created]
    assert all("content" not in block for block in listed["data"])
    assert listed["data"][0]["metadata"] == created[0]["metadata"]
    assert listed["meta"]["hasMore"] is False


def test_list_blocks_filters_and_pages(api):
    session = create_session(api)
    created = append(
        api,
        session["id"],
        *[note(f"n{i}", tags=["even" if i % 2 == 0 else "odd"], pinned=i == 4) for i in range(7)],
        {"type": "file", "content": {"path": "a.py", "content": "x"}, "tags": ["even"]},
    )
    even_notes = [block["id"] for block in created if block["type"] == "note" and "even" in block["metadata"]["tags"]]

    first = api.get(f"/v1/aip/sessions/{session['id']}/blocks?type=note&tag=even&limit=2&include=content").json()
    second = api.get(
        f"/v1/aip/sessions/{session['id']}/blocks?type=note&tag=even&limit=2&include=content"
        f"&cursor={first['meta']['nextCursor']}"
    ).json()
    pinned = api.get(f"/v1/aip/sessions/{session['id']}/blocks?pinned=true").json()

    assert [b["id"] for b in first["data"] + second["data"]] == even_notes
    assert first["meta"]["hasMore"] is True and second["meta"]["hasMore"] is False
    assert first["data"][0]["content"] == "n0"
    assert [b["id"] for b in pinned["data"]] == [created[4]["id"]]


def test_patch_block_changes_pinned_tags_importance_and_session_pins(api):
    session = create_session(api)
    (block,) = append(api, session["id"], note("x"))

    response = api.patch(f"/v1/aip/blocks/{block['id']}", json={"pinned": True, "tags": ["a"], "importance": 0.2})

    assert response.status_code == 200
    assert response.json()["data"]["metadata"] | {} == block["metadata"] | {
        "pinned": True,
        "tags": ["a"],
        "importance": 0.2,
    }
    assert api.get(f"/v1/aip/blocks/{block['id']}").json()["data"]["metadata"]["pinned"] is True
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["pinnedBlocks"] == [block["id"]]
    api.patch(f"/v1/aip/blocks/{block['id']}", json={"pinned": False})
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["pinnedBlocks"] == []


def test_empty_patch_is_422(api):
    session = create_session(api)
    (block,) = append(api, session["id"], note("x"))

    assert api.patch(f"/v1/aip/blocks/{block['id']}", json={}).status_code == 422


def test_delete_block_updates_metrics(api):
    session = create_session(api)
    kept, removed = append(api, session["id"], note("keep me"), note("remove me", pinned=True))

    response = api.delete(f"/v1/aip/blocks/{removed['id']}")

    assert response.json()["data"] == {"deleted": True}
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["blocks"] == [kept["id"]] and view["pinnedBlocks"] == []
    assert view["metrics"]["totalTokens"] == kept["metadata"]["tokenCount"]
    assert view["metrics"]["blockCount"] == 1
    assert api.delete(f"/v1/aip/blocks/{removed['id']}").status_code == 404


def test_unknown_block_ids_are_404(api):
    for block_id in ["blk_nope", "blk_" + "0" * 32 + "0" * 26, "sess_" + "0" * 32]:
        assert api.get(f"/v1/aip/blocks/{block_id}").status_code == 404
