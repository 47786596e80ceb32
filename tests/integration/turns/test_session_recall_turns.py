"""The session_recall capability on the agent-runtime surface: a turn's tool call searches the session."""

import json

from tests.integration.turns.helpers import events_of, say


def test_a_turn_searches_its_session_with_session_recall(api, code_assistant, run_turns, index_blocks):
    session = api.post(
        "/v1/sessions",
        json={"agent_id": code_assistant["agent"]["id"], "capabilities": [{"ref": "session_recall"}]},
    ).json()
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("Note: the release train leaves on Thursdays."))
    run_turns()
    index_blocks()

    api.post(
        f"/v1/sessions/{session['id']}/messages",
        json=say("search_session " + json.dumps({"query": "when does the release train leave"})),
    )
    run_turns()

    results = [e["data"] for e in events_of(api, session["id"]) if e["type"] == "tool.completed"]
    assert not results[0]["is_error"]
    assert "release train leaves on Thursdays" in results[0]["output"]["results"][0]["snippet"]
