"""POST /v1/aip/search over real HTTP semantics (the app, the embedded AWS, the indexer fed from the table's
stream): every filter, the threshold, compacted originals, deleted sessions, tenants apart, and bad input."""

import pytest

NOTES = {
    "deploy": "The deploy failed with ECONNRESET while uploading the bundle to the artifact bucket.",
    "retry": "We raised the retry limit of the upload worker to 7 because S3 throttled our PUT requests.",
    "cats": "My cat sleeps on the keyboard every afternoon, which is why the tests ran twice.",
    "auth": "Tokens are verified in src/auth/verify_token.py with the public key from the JWKS endpoint.",
}


def session_with(api, name: str, blocks: list[dict], tags: list[str] | None = None) -> str:
    created = api.post("/v1/aip/sessions", json={"name": name, "tags": tags or []})
    assert created.status_code == 201, created.text
    session_id = created.json()["data"]["id"]
    added = api.post(f"/v1/aip/sessions/{session_id}/blocks", json={"blocks": blocks})
    assert added.status_code == 201, added.text
    return session_id


def note(text: str, tags: list[str] | None = None) -> dict:
    return {"type": "note", "content": text, "tags": tags or []}


def search(api, **body):  # type: ignore[no-untyped-def]
    answer = api.post("/v1/aip/search", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def texts(answer: dict) -> list[str]:
    return [result["snippet"] for result in answer["data"]["results"]]


@pytest.fixture
def corpus(api, index_blocks):  # type: ignore[no-untyped-def]
    ops = session_with(
        api,
        "ops",
        [note(NOTES["deploy"], ["ops"]), note(NOTES["retry"], ["ops", "decision"]), note(NOTES["cats"])],
        tags=["infra"],
    )
    code = session_with(
        api,
        "code",
        [
            note(NOTES["auth"], ["security"]),
            {"type": "file", "content": {"path": "src/upload/worker.py", "content": "MAX_RETRIES = 7\n"}},
            {
                "type": "tool_result",
                "content": {"tool": "shell", "input": {"cmd": "pytest"}, "output": "KeyError: 'tenant_id'"},
            },
        ],
    )
    index_blocks()
    return {"ops": ops, "code": code}


def test_an_exact_error_string_finds_its_block_with_the_answer_fields(api, corpus):
    answer = search(api, query="ECONNRESET")

    first = answer["data"]["results"][0]
    assert "ECONNRESET" in first["snippet"]
    assert first["sessionId"] == corpus["ops"] and first["sessionName"] == "ops"
    assert first["type"] == "note" and first["tags"] == ["ops"]
    assert first["blockId"].startswith("blk_") and first["createdAt"].endswith("Z")
    assert 0.7 <= first["score"] <= 1 and first["compacted"] is False and first["coveredBy"] is None
    assert answer["data"]["totalMatches"] >= 1 and isinstance(answer["data"]["searchTime"], int)
    assert answer["meta"]["searchMode"] == "hybrid"


def test_a_paraphrase_finds_the_block_that_shares_no_rare_word_with_it(api, corpus):
    answer = search(api, query="why did we change how many times uploads are attempted again?", threshold=0.0)

    assert "retry limit" in texts(answer)[0]


def test_filters_by_session_tag_and_type(api, corpus):
    everywhere = search(api, query="upload worker retry", threshold=0.0, limit=50)
    in_code = search(api, query="upload worker retry", sessions=[corpus["code"]], threshold=0.0, limit=50)
    tagged = search(api, query="upload worker retry", tags=["decision"], threshold=0.0, limit=50)
    files = search(api, query="upload worker retry", types=["file"], threshold=0.0, limit=50)

    assert {r["sessionId"] for r in everywhere["data"]["results"]} == {corpus["ops"], corpus["code"]}
    assert {r["sessionId"] for r in in_code["data"]["results"]} == {corpus["code"]}
    assert [r["tags"] for r in tagged["data"]["results"]] == [["ops", "decision"]]
    assert [r["type"] for r in files["data"]["results"]] == ["file"]


def test_limit_and_threshold(api, corpus):
    loose = search(api, query="upload worker retry bucket", threshold=0.0, limit=50)
    scores = [r["score"] for r in loose["data"]["results"]]
    strict = search(api, query="upload worker retry bucket", threshold=0.9, limit=50)
    one = search(api, query="upload worker retry bucket", threshold=0.0, limit=1)

    assert scores == sorted(scores, reverse=True) and len(scores) >= 3
    assert all(r["score"] >= 0.9 for r in strict["data"]["results"])
    assert len(strict["data"]["results"]) < len(scores)
    assert len(one["data"]["results"]) == 1 and one["data"]["results"][0]["score"] == scores[0]


def test_the_default_threshold_leaves_out_unrelated_blocks(api, corpus):
    answer = search(api, query="quarterly revenue forecast spreadsheet")

    assert answer["data"]["results"] == [] and answer["data"]["totalMatches"] == 0


def test_another_tenant_finds_nothing_and_cannot_name_the_sessions(api, other_api, corpus, index_blocks):
    session_with(other_api, "theirs", [note("Their own notes on ECONNRESET in the proxy.")])
    index_blocks()

    theirs = search(other_api, query="ECONNRESET upload bundle", threshold=0.0, limit=50)
    named = other_api.post("/v1/aip/search", json={"query": "ECONNRESET", "sessions": [corpus["ops"]]})

    assert {r["sessionName"] for r in theirs["data"]["results"]} == {"theirs"}
    assert named.status_code == 404 and named.json()["error"]["code"] == "not_found"


def test_a_deleted_session_leaves_the_results_at_once_and_the_index_soon_after(api, aws, corpus, index_blocks):
    from agentctx.store.search_index import terms
    from agentctx.wiring import search_index
    from tests.integration.bounded_requests.helpers import run_session_jobs

    assert api.delete(f"/v1/aip/sessions/{corpus['ops']}").status_code in (200, 204)

    at_once = search(api, query="ECONNRESET", threshold=0.0)
    assert all(r["sessionId"] != corpus["ops"] for r in at_once["data"]["results"])
    assert api.post("/v1/aip/search", json={"query": "x", "sessions": [corpus["ops"]]}).status_code == 404

    tenant, session_hex = api.tenant_id, corpus["ops"].removeprefix("sess_")
    assert run_session_jobs(aws) >= 1  # the purge, which removes the blocks: their REMOVE records reach the indexer
    index_blocks()
    left = search_index().search(tenant, list(terms("ECONNRESET")), [session_hex], None, None)
    assert left.postings == {}


def test_compacted_originals_are_found_and_name_their_summary(api, index_blocks, compaction_worker):
    blocks = [note(f"Routine progress note number {i} about the dashboard colours.") for i in range(30)]
    blocks[3] = note("The staging database password rotates every 90 days via the vault-rotator job.")
    session_id = session_with(api, "long", blocks)
    compacted = api.post(f"/v1/aip/sessions/{session_id}/compact", json={"targetTokens": 200, "preserveRecent": 2})
    assert compacted.status_code in (200, 202), compacted.text
    index_blocks()

    found = search(api, query="vault-rotator password rotation", sessions=[session_id])
    hidden = search(api, query="vault-rotator password rotation", sessions=[session_id], includeCompacted=False)

    original = found["data"]["results"][0]
    assert "vault-rotator" in original["snippet"] and original["compacted"] is True
    assert original["coveredBy"].startswith("blk_")
    assert all(not r["compacted"] for r in hidden["data"]["results"])


def test_both_surfaces_blocks_are_searched(api, code_assistant, index_blocks):
    runtime = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"], "title": "Runtime"}).json()
    posted = api.post(
        f"/v1/sessions/{runtime['id']}/messages",
        json={
            "message": {"role": "user", "content": [{"type": "text", "text": "Remember the flux capacitor code 88."}]}
        },
    )
    assert posted.status_code in (200, 201), posted.text
    index_blocks()

    answer = search(api, query="flux capacitor", sessions=[runtime["id"]])
    assert answer["data"]["results"][0]["type"] == "conversation"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"query": ""},
        {"query": "x", "limit": 0},
        {"query": "x", "limit": 51},
        {"query": "x", "threshold": 1.5},
        {"query": "x", "types": ["photo"]},
        {"query": "x", "sessions": ["sess_" + "0" * 32] * 21},
        {"query": "x", "colour": "blue"},
    ],
)
def test_bad_input_is_a_422_in_the_error_envelope(api, body):
    answer = api.post("/v1/aip/search", json=body)

    assert answer.status_code == 422 and answer.json()["error"]["code"] == "validation_error"


def test_without_an_embedder_or_a_vector_index_search_is_lexical_and_says_why(api, corpus):
    from agentctx.services.search import SearchQuery, SearchService
    from agentctx.store.vectors import VectorStore, s3vectors_client
    from agentctx.wiring import context_store, embedder, search_index, vector_store

    missing = VectorStore(s3vectors_client(), vector_store().index_arn.replace("/index/blocks", "/index/gone"))
    no_embedder = SearchService(context_store(), search_index(), lambda: None, vector_store())
    no_index = SearchService(context_store(), search_index(), embedder, missing)

    for service, why in ((no_embedder, "no embedder is configured"), (no_index, "the vector index did not answer")):
        outcome = service.search(api.tenant_id, SearchQuery("ECONNRESET"))
        assert (outcome.mode, outcome.degraded) == ("lexical", why)
        assert "ECONNRESET" in outcome.hits[0].snippet and outcome.hits[0].semantic == 0
