"""The session_recall capability on the AIP surface: an agent searches its session, compacted originals included,
reads back what a summary replaced, and cannot reach another session's blocks."""

import json

import pytest

from tests.conftest import OFFLINE_MODEL

SECRET = "The staging database password rotates every 90 days through the vault-rotator job."


@pytest.fixture
def recaller(api) -> str:  # type: ignore[no-untyped-def]
    """An agent on the offline model (it calls a tool its prompt names, with the JSON after the name as input)."""
    model = api.post("/v1/models", json=OFFLINE_MODEL).json()
    agent = api.post(
        "/v1/agents",
        json={
            "name": "Recaller",
            "slug": "recaller",
            "system_prompt": "You remember.",
            "default_model_id": model["id"],
            "capabilities": [{"ref": "session_recall", "config": {"max_results": 5}}],
        },
    )
    assert agent.status_code == 201, agent.text
    return "recaller"


@pytest.fixture
def compacted_session(api, index_blocks, compaction_worker) -> str:  # type: ignore[no-untyped-def]
    blocks = [{"type": "note", "content": f"Progress note {i} on the dashboard colours."} for i in range(30)]
    blocks[4] = {"type": "note", "content": SECRET}
    session = api.post("/v1/aip/sessions", json={"name": "long"}).json()["data"]["id"]
    assert api.post(f"/v1/aip/sessions/{session}/blocks", json={"blocks": blocks}).status_code == 201
    compacted = api.post(f"/v1/aip/sessions/{session}/compact", json={"targetTokens": 200, "preserveRecent": 2})
    assert compacted.status_code in (200, 202), compacted.text
    index_blocks()
    return session


def tool_output(api, agent: str, session: str, prompt: str) -> dict:  # type: ignore[no-untyped-def]
    answer = api.post("/v1/aip/invoke", json={"agent": agent, "prompt": prompt, "session": session, "stream": False})
    assert answer.status_code == 200, answer.text
    tool_block = api.get(f"/v1/aip/blocks/{answer.json()['data']['blocksCreated'][1]}").json()["data"]
    assert tool_block["type"] == "tool_result"
    return tool_block["content"]["output"]


def test_an_agent_finds_a_summarised_fact_and_reads_the_original_back(api, recaller, compacted_session):
    query = json.dumps({"query": "how often does the staging password rotate"})
    found = tool_output(api, recaller, compacted_session, f"search_session {query}")

    hit = found["results"][0]
    assert "vault-rotator" in hit["snippet"] and hit["coveredBy"].startswith("blk_")
    summary = hit["coveredBy"]
    read = tool_output(api, recaller, compacted_session, "read_summarised " + json.dumps({"summaryId": summary}))

    assert hit["blockId"] in [block["blockId"] for block in read["blocks"]]
    assert any(block["text"] == SECRET for block in read["blocks"])


def test_another_sessions_blocks_are_refused_whatever_ids_the_agent_sends(api, recaller, compacted_session):
    other = api.post("/v1/aip/sessions", json={"name": "other"}).json()["data"]["id"]
    theirs = api.get(f"/v1/aip/sessions/{compacted_session}").json()["data"]["blocks"][0]

    read = tool_output(api, recaller, other, "read_blocks " + json.dumps({"blockIds": [theirs]}))
    searched = tool_output(api, recaller, other, "search_session " + json.dumps({"query": "vault-rotator"}))

    assert "is not in this session" in read["error"]
    assert searched["results"] == []
