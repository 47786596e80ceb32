"""Invocation (seed 001): the non-streaming response, the SSE stream and its event order, tool calls, saving to
the session, ephemeral invocations, and the AIP 0.1.0 endpoints."""

import json

from tests.integration.test_sessions_api import append, create_session, note


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """The events of a stream; comments (heartbeats, sent while the model is slow to answer) left out."""
    events = []
    for chunk in text.strip().split("\n\n"):
        if chunk.startswith(":"):
            continue
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_invoke_answers_the_seed_shape_and_saves_to_the_session(api, code_assistant):
    session = create_session(api)
    pinned, auth = append(
        api, session["id"], note("decision: JWT", pinned=True), note("login flow", tags=["authentication"])
    )

    response = api.post(
        "/v1/aip/invoke",
        json={
            "agent": "code-assistant",
            "prompt": "Continue the auth implementation we discussed",
            "session": session["id"],
            "context": {"includeByTag": ["authentication"], "maxTokens": 50000},
            "enrichment": "auto",
        },
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"].startswith("inv_") and data["status"] == "completed"
    assert data["agent"] == "code-assistant" and data["session"] == session["id"]
    assert "Continue the auth implementation" in data["output"]
    assert set(data["context"]["blockIds"]) == {pinned["id"], auth["id"]}
    assert data["usage"]["contextTokens"] == pinned["metadata"]["tokenCount"] + auth["metadata"]["tokenCount"]
    assert data["usage"]["inputTokens"] > data["usage"]["contextTokens"] and data["usage"]["outputTokens"] > 0
    assert len(data["blocksCreated"]) == 2
    prompt_block, output_block = (api.get(f"/v1/aip/blocks/{b}").json()["data"] for b in data["blocksCreated"])
    assert prompt_block["content"] == [{"role": "user", "content": "Continue the auth implementation we discussed"}]
    assert output_block["content"] == [{"role": "assistant", "content": data["output"]}]
    assert prompt_block["metadata"]["tags"] == ["authentication"]
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["metrics"]["invocationCount"] == 1 and view["metrics"]["blockCount"] == 4
    record = api.get(f"/v1/aip/sessions/{session['id']}/invocations/{data['id']}").json()["data"]
    assert record["status"] == "completed" and record["blocksCreated"] == data["blocksCreated"]
    assert api.get(f"/v1/aip/sessions/{session['id']}/invocations").json()["data"][0]["id"] == data["id"]


def test_streaming_emits_the_seed_events_in_order_with_a_tool_call(api, code_assistant):
    session = create_session(api)
    append(api, session["id"], note("some context"))

    response = api.post(
        "/v1/aip/invoke",
        json={
            "agent": "code-assistant",
            "prompt": "What is current_time now?",
            "session": session["id"],
            "stream": True,
        },
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "start" and names[1] == "context_assembled" and names[-1] == "complete"
    assert events[0][1]["agent"] == "code-assistant" and events[0][1]["invocationId"].startswith("inv_")
    assert events[1][1]["blocksIncluded"] == 1
    assert {"thinking", "text_delta", "tool_call", "tool_result"} <= set(names)
    assert names.index("tool_call") < names.index("tool_result") < names.index("text_delta")
    call = next(data for name, data in events if name == "tool_call")
    result = next(data for name, data in events if name == "tool_result")
    assert call == {"tool": "current_time", "input": {}}
    assert set(result["output"]) == {"utc", "timezone", "local", "unix"}
    complete = events[-1][1]
    text = "".join(data["content"] for name, data in events if name == "text_delta")
    assert complete["output"] == text and len(complete["blocksCreated"]) == 3
    tool_block = api.get(f"/v1/aip/blocks/{complete['blocksCreated'][1]}").json()["data"]
    assert tool_block["type"] == "tool_result" and tool_block["content"]["tool"] == "current_time"


def test_ephemeral_invocation_saves_nothing(api, code_assistant):
    response = api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "hello"})

    data = response.json()["data"]
    assert data["session"] is None and data["blocksCreated"] == [] and data["usage"]["contextTokens"] == 0


def test_save_to_session_false_saves_nothing(api, code_assistant):
    session = create_session(api)

    api.post(
        "/v1/aip/invoke",
        json={"agent": "code-assistant", "prompt": "hi", "session": session["id"], "saveToSession": False},
    )

    metrics = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]
    assert metrics["blockCount"] == 0 and metrics["invocationCount"] == 0


def test_unknown_agent_is_404_envelope(api, code_assistant):
    response = api.post("/v1/aip/invoke", json={"agent": "nobody", "prompt": "hi"})

    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_web_fetch_refuses_private_addresses_inside_an_invocation(api, code_assistant):
    response = api.post(
        "/v1/aip/invoke",
        json={
            "agent": "code-assistant",
            "prompt": "use web_fetch on http://169.254.169.254/latest/meta-data",
            "stream": True,
        },
    )

    result = next(data for name, data in parse_sse(response.text) if name == "tool_result")
    assert result["isError"] is True and "non-public" in result["output"]["error"]


def test_agent_by_id_and_aip_well_known_invoke(api, code_assistant):
    session = create_session(api)
    append(api, session["id"], note("relevant", tags=["relevant"]), note("other", tags=["other"]))

    response = api.post(
        "/.well-known/aip/invoke",
        headers={"X-AIP-Agent": code_assistant["agent"]["id"]},
        json={
            "aip_version": "0.1.0",
            "prompt": {"content": "Build a landing page", "attachments": [{"name": "brief.txt", "content": "blue"}]},
            "context": {"session_id": session["id"], "include_by_tag": ["relevant"]},
            "options": {"stream": False, "save_to_session": True},
        },
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["context"]["tokenCount"] > 0 and len(data["context"]["blockIds"]) == 1
    assert "brief.txt" in api.get(f"/v1/aip/blocks/{data['blocksCreated'][0]}").json()["data"]["content"][0]["content"]


def test_aip_manifest_and_agent_list(api, code_assistant):
    manifest = api.get("/.well-known/aip/agent", headers={"X-AIP-Agent": "code-assistant"}).json()

    assert manifest["aip_version"] == "0.1.0" and manifest["invoke"] == "/.well-known/aip/invoke"
    assert manifest["capabilities"] == ["current_time", "web_fetch"]
    assert {tool["name"] for tool in manifest["tools"]} == {"current_time", "web_fetch"}
    assert manifest["context_requirements"]["max_tokens"] == 200_000
    assert "summary" in manifest["context_requirements"]["supported_block_types"]
    assert manifest["models"][0]["provider"] == "offline"
    listed = api.get("/v1/aip/agents").json()["data"]
    assert [agent["slug"] for agent in listed] == ["code-assistant"]
    assert api.get("/.well-known/aip/agent").status_code == 400
