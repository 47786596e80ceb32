"""What a client may store: text UTF-8 cannot encode is refused at the edge (422 naming the field, nothing written),
records are stored compactly in UTF-8 (so a large non-ASCII message fits an item), and a record that would still be
over DynamoDB's item limit is a 413 that writes nothing."""

import json
from typing import Any

import pytest

from tests.integration.test_request_guards import message_items, nested, readable, say

SURROGATE = "x\udc00y"  # sent as the JSON escape \udc00: valid JSON, not valid Unicode


def send(api, path: str, body: Any, **headers: str):  # type: ignore[no-untyped-def]
    """POST `body` as json.dumps writes it (\\u escapes), the one way a lone surrogate can be sent."""
    return api.post(path, content=json.dumps(body), headers={"Content-Type": "application/json", **headers})


@pytest.fixture
def session(api, code_assistant):  # type: ignore[no-untyped-def]
    return api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()


def aip_id(runtime_id: str) -> str:
    return "sess_" + runtime_id[len("session_") :]


@pytest.mark.parametrize(
    "controls",
    [{"hints": {"k": SURROGATE}}, {"reasoning": [SURROGATE]}, {"hints": nested(300)}, {"reasoning": nested(300)}],
)
def test_unstorable_message_controls_are_refused_and_record_nothing(api, session, controls):
    refused = send(api, f"/v1/sessions/{session['id']}/messages", say("hi", controls=controls))

    assert refused.status_code == 422, refused.text
    field = next(iter(controls))
    assert any(problem["location"] == f"body.controls.{field}" for problem in refused.json()["error"]["details"])
    assert api.get(f"/v1/sessions/{session['id']}/events").json()["data"] == []
    assert api.get(f"/v1/sessions/{session['id']}/messages").json()["data"] == []
    readable(api, session["id"])


def test_an_aip_attachment_with_a_lone_surrogate_is_refused_and_records_no_invocation(api, session):
    body = {"prompt": {"content": "hi", "attachments": [{"k": SURROGATE}]}, "context": {"session_id": session["id"]}}

    refused = send(api, "/.well-known/aip/invoke", body, **{"X-AIP-Agent": "code-assistant"})

    assert refused.status_code == 422, refused.text
    assert "attachments" in refused.text
    invocations = api.get(f"/v1/aip/sessions/{aip_id(session['id'])}/invocations")
    assert invocations.status_code == 200 and invocations.json()["data"] == []


@pytest.mark.parametrize(
    "block",
    [
        {"type": "event", "content": {"k": SURROGATE}},
        {"type": "summary", "content": SURROGATE},
        {"type": "tool_result", "content": {"tool": "t", "input": {SURROGATE: 1}}},
        {"type": "tool_result", "content": {"tool": "t", "output": [SURROGATE]}},
        {"type": "diff", "content": {"path": "a.py", "diff": SURROGATE}},
        {"type": "note", "content": SURROGATE},
    ],
)
def test_block_content_with_a_lone_surrogate_is_refused_and_stores_nothing(api, block):
    session = api.post("/v1/aip/sessions", json={"name": "s"}).json()["data"]

    refused = send(api, "/v1/aip/blocks", {"sessionId": session["id"]} | block)

    assert refused.status_code == 422, refused.text
    assert any(problem["location"].startswith("body.content") for problem in refused.json()["error"]["details"])
    listed = api.get(f"/v1/aip/sessions/{session['id']}/blocks", params={"include": "content"})
    assert listed.status_code == 200 and listed.json()["data"] == []


@pytest.mark.parametrize("text", ["😀" * 40_000, "漢" * 70_000], ids=["40k-emoji", "70k-cjk"])
def test_a_large_non_ascii_message_under_the_block_limit_is_stored_and_reads_back(api, session, text):
    posted = api.post(f"/v1/sessions/{session['id']}/messages", json=say(text))

    assert posted.status_code == 201, posted.text[:300]
    messages = api.get(f"/v1/sessions/{session['id']}/messages").json()["data"]
    assert messages[0]["content"] == [{"type": "text", "text": text}]
    events = api.get(f"/v1/sessions/{session['id']}/events").json()["data"]
    assert events[0]["data"]["message"]["content"][0]["text"] == text
    readable(api, session["id"])


def test_records_are_stored_compactly_in_utf8(api, session):
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("漢字", metadata={"a": 1}))

    record = message_items(api, session["id"])[0]["record"]["S"]
    assert '"text":"漢字"' in record and '"metadata":{"a":1}' in record


def test_a_record_over_the_item_limit_is_a_413_that_writes_nothing(api, session, monkeypatch):
    """The limit lowered so that a message under the block limit makes records over it: the request is refused
    whole, and the session's metrics do not move (no block, no tokens)."""
    from agentctx.store import dynamo

    monkeypatch.setattr(dynamo, "MAX_ITEM_BYTES", 100_000)
    aip = f"/v1/aip/sessions/{aip_id(session['id'])}"
    metrics = api.get(aip).json()["data"]["metrics"]

    refused = api.post(f"/v1/sessions/{session['id']}/messages", json=say("😀" * 40_000))

    assert refused.status_code == 413, refused.text[:300]
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert refused.json()["error"]["details"]["limitBytes"] == 100_000
    assert api.get(aip).json()["data"]["metrics"] == metrics
    assert api.get(f"/v1/sessions/{session['id']}/events").json()["data"] == []
    assert api.get(f"/v1/sessions/{session['id']}/messages").json()["data"] == []


def test_an_agent_whose_record_would_pass_the_item_limit_is_a_413_and_not_created(api):
    agents = api.get("/v1/agents").json()["data"]
    files = [{"path": "a.txt", "content": "漢" * 140_000}]  # 420,000 bytes in UTF-8, under the 400,000-char field cap

    refused = api.post("/v1/agents", json={"name": "big", "initial_files": files})

    assert refused.status_code == 413, refused.text[:300]
    assert api.get("/v1/agents").json()["data"] == agents


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/aip/sessions", {"name": SURROGATE}), ("/v1/models", {"name": SURROGATE, "provider": "offline"})],
)
def test_a_lone_surrogate_in_a_typed_string_field_is_a_422_naming_it(api, path, body):
    refused = send(api, path, body)

    assert refused.status_code == 422
    assert any(problem["location"] == "body.name" for problem in refused.json()["error"]["details"])
