"""Requests that used to poison a session or answer 5xx: each is refused cleanly (4xx, nothing written) or works."""

import json
from typing import Any

import pytest

from tests.conftest import OFFLINE_MODEL


def say(text: str, **extra: Any) -> dict[str, Any]:
    return {"message": {"content": [{"type": "text", "text": text}]}} | extra


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


@pytest.fixture(autouse=True)
def short_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream read here only has to answer 200: it ends after 0.05 s rather than the tests' 1 s (a second for
    each example of the property below)."""
    from agentctx.settings import get_settings

    monkeypatch.setattr(get_settings(), "sse_max_seconds", 0.05)


@pytest.fixture
def session(api, code_assistant):  # type: ignore[no-untyped-def]
    return api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()


def readable(api, session_id: str) -> None:  # type: ignore[no-untyped-def]
    for path in ("", "/events", "/messages", "/sse"):
        response = api.get(f"/v1/sessions/{session_id}{path}")
        assert response.status_code == 200, (path, response.text[:200])


def test_deeply_nested_metadata_is_refused_before_anything_is_stored(api, session):
    refused = api.post(f"/v1/sessions/{session['id']}/messages", json=say("deep", metadata=nested(300)))

    assert refused.status_code == 422
    assert "metadata" in refused.text and "levels deep" in refused.text
    assert api.get(f"/v1/sessions/{session['id']}/events").json()["data"] == []
    assert api.post(f"/v1/sessions/{session['id']}/messages", json=say("ok", metadata=nested(32))).status_code == 201
    readable(api, session["id"])


def test_deeply_nested_model_options_and_block_content_are_refused(api):
    models = api.get("/v1/models").json()["data"]
    model = api.post("/v1/models", json=OFFLINE_MODEL | {"options": nested(300)})
    assert model.status_code == 422 and "options" in model.text
    assert api.get("/v1/models").json()["data"] == models

    session = api.post("/v1/aip/sessions", json={"name": "deep"}).json()["data"]
    block = api.post("/v1/aip/blocks", json={"sessionId": session["id"], "type": "event", "content": nested(300)})
    assert block.status_code == 422 and "levels deep" in block.text
    assert api.get(f"/v1/aip/sessions/{session['id']}/blocks").json()["data"] == []


def message_items(api, session_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The session's message records as DynamoDB stores them."""
    from agentctx.store.dynamo import dynamodb_client, to_item
    from agentctx.store.keys import MESSAGE_SK_PREFIX

    pk = f"T#{api.tenant_id}#S#{session_id[len('session_') :]}"
    return dynamodb_client().query(
        TableName="test-context",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
        ExpressionAttributeValues=to_item({":pk": pk, ":m": MESSAGE_SK_PREFIX}),
    )["Items"]


def test_records_stored_deeper_than_today_allows_still_read(api, session):
    """What an older version stored beyond the limits reads back cut short instead of failing every read."""
    from agentctx.store.dynamo import dynamodb_client

    api.post(f"/v1/sessions/{session['id']}/messages", json=say("fine"))
    items = message_items(api, session["id"])
    record = json.loads(items[0]["record"]["S"])
    record["metadata"] = nested(300)
    items[0]["record"] = {"S": json.dumps(record)}
    dynamodb_client().put_item(TableName="test-context", Item=items[0])

    messages = api.get(f"/v1/sessions/{session['id']}/messages")
    assert messages.status_code == 200
    assert "nested too deeply" in messages.text


def test_records_an_older_version_stored_with_a_lone_surrogate_still_read(api, session):
    """Before text was checked at the edge, a lone surrogate could be stored (as a `\\udc00` escape): every read of
    the session then failed. It reads back with U+FFFD in its place, a valid pair unchanged."""
    from agentctx.store.dynamo import dynamodb_client, to_item

    api.post(f"/v1/sessions/{session['id']}/messages", json=say("fine 😀"))
    pk = f"T#{api.tenant_id}#S#{session['id'][len('session_') :]}"
    items = dynamodb_client().query(
        TableName="test-context", KeyConditionExpression="pk = :pk", ExpressionAttributeValues=to_item({":pk": pk})
    )["Items"]
    rewritten = 0
    for item in items:
        if "fine" in item.get("record", {}).get("S", ""):
            record = json.loads(item["record"]["S"].replace("fine", "fi\udc00ne"))
            item["record"] = {"S": json.dumps(record)}  # escaped, as the older version wrote records
            dynamodb_client().put_item(TableName="test-context", Item=item)
            rewritten += 1
    assert rewritten >= 2  # the message and its event

    readable(api, session["id"])
    messages = api.get(f"/v1/sessions/{session['id']}/messages").json()["data"]
    assert messages[0]["content"][0]["text"] == "fi\ufffdne 😀"
    events = api.get(f"/v1/sessions/{session['id']}/events").json()["data"]
    assert any("fi\ufffdne 😀" in json.dumps(event, ensure_ascii=False) for event in events)


def test_a_hundred_block_batch_that_crosses_the_threshold_is_stored_with_its_compaction(api):
    from tests.integration.compaction.helpers import jobs_of

    model = api.post("/v1/models", json=OFFLINE_MODEL | {"context_window": 2_000, "max_output_tokens": 100}).json()
    api.post("/v1/agents", json={"name": "Small", "slug": "small", "default_model_id": model["id"]})
    session = api.post("/v1/aip/sessions", json={"name": "big batch", "defaultAgent": "small"}).json()["data"]
    blocks = [{"type": "note", "content": f"note {i}: " + "several more words of context " * 4} for i in range(100)]

    appended = api.post(f"/v1/aip/sessions/{session['id']}/blocks", json={"blocks": blocks})

    assert appended.status_code == 201, appended.text
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["blockCount"] == 100
    assert jobs_of(api, session["id"]) == [("auto", "queued")]


def test_a_key_whose_request_failed_with_a_5xx_can_be_retried(api, monkeypatch):
    from agentctx.wiring import block_service

    session = api.post("/v1/aip/sessions", json={"name": "retry"}).json()["data"]
    body = {"sessionId": session["id"], "type": "note", "content": "once"}
    service = block_service()
    original = service.append
    monkeypatch.setattr(service, "append", lambda *args: (_ for _ in ()).throw(RuntimeError("store down")))
    failed = api.post("/v1/aip/blocks", json=body, headers={"Idempotency-Key": "k-500"})
    assert failed.status_code == 500
    monkeypatch.setattr(service, "append", original)

    retried = api.post("/v1/aip/blocks", json=body, headers={"Idempotency-Key": "k-500"})

    assert retried.status_code == 201, retried.text
    assert len(api.get(f"/v1/aip/sessions/{session['id']}/blocks").json()["data"]) == 1


def test_a_revoked_key_gets_no_replay(http, api):
    from tests.conftest import ADMIN_KEY

    admin = {"X-Admin-Key": ADMIN_KEY}
    issued = http.post(f"/v1/admin/tenants/{api.tenant_id}/keys", headers=admin).json()["data"]
    session = api.post("/v1/aip/sessions", json={"name": "replay"}).json()["data"]
    body = {"sessionId": session["id"], "type": "note", "content": "kept"}
    headers = {"X-API-Key": issued["key"], "Idempotency-Key": "k-revoked"}
    assert http.post("/v1/aip/blocks", json=body, headers=headers).status_code == 201
    assert http.post("/v1/aip/blocks", json=body, headers=headers).headers["Idempotent-Replayed"] == "true"
    http.delete(f"/v1/admin/tenants/{api.tenant_id}/keys/{issued['id']}", headers=admin)

    replay = http.post("/v1/aip/blocks", json=body, headers=headers)

    assert replay.status_code == 401 and "Idempotent-Replayed" not in replay.headers


def test_invoke_with_a_bad_block_id_is_a_400_that_counts_nothing(api, code_assistant, other_api):
    session = api.post("/v1/aip/sessions", json={"name": "explicit"}).json()["data"]
    foreign = other_api.post("/v1/aip/sessions", json={"name": "theirs"}).json()["data"]
    theirs = other_api.post("/v1/aip/blocks", json={"sessionId": foreign["id"], "type": "note", "content": "x"})
    missing = "blk_" + session["id"][5:] + "0" * 26
    for block_id in ("nonsense", missing, theirs.json()["data"]["id"]):
        for stream in (False, True):
            body = {"agent": "code-assistant", "prompt": "hi", "session": session["id"], "stream": stream}
            response = api.post("/v1/aip/invoke", json=body | {"context": {"blockIds": [block_id]}})
            assert response.status_code == 400, (block_id, stream, response.text[:200])
            assert "blockIds" in response.json()["error"]["message"]
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["metrics"]["blockCount"] == 0
    assert api.get(f"/v1/aip/sessions/{session['id']}/invocations").json()["data"] == []


def test_a_session_whose_agent_is_gone_refuses_messages_before_writing(api):
    session = api.post("/v1/aip/sessions", json={"name": "orphan", "defaultAgent": "no-such-agent"}).json()["data"]
    runtime_id = "session_" + session["id"][5:]

    refused = api.post(f"/v1/sessions/{runtime_id}/messages", json=say("hello?"))

    assert refused.status_code == 409 and "agent" in refused.json()["error"]["message"]
    assert api.get(f"/v1/sessions/{runtime_id}/events").json()["data"] == []
    assert api.get(f"/v1/sessions/{runtime_id}/messages").json()["data"] == []
