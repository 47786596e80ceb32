"""Idempotency-Key on POSTs: a retry returns the first response and changes nothing; another body is refused."""

from tests.conftest import ADMIN_KEY
from tests.integration.test_sessions_api import create_session


def test_retry_with_the_same_key_returns_the_first_response_and_creates_nothing(api):
    headers = {"Idempotency-Key": "create-1"}
    first = api.post("/v1/aip/sessions", json={"name": "once"}, headers=headers)

    again = api.post("/v1/aip/sessions", json={"name": "once"}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert [s["id"] for s in api.get("/v1/aip/sessions").json()["data"]] == [first.json()["data"]["id"]]


def test_same_key_with_another_body_is_refused_and_changes_nothing(api):
    headers = {"Idempotency-Key": "create-2"}
    api.post("/v1/aip/sessions", json={"name": "first"}, headers=headers)

    response = api.post("/v1/aip/sessions", json={"name": "second"}, headers=headers)

    assert response.status_code == 422 and response.json()["error"]["code"] == "idempotency_key_reused"
    assert [s["name"] for s in api.get("/v1/aip/sessions").json()["data"]] == ["first"]


def test_appending_a_block_twice_under_one_key_stores_it_once(api):
    session = create_session(api)
    body = {"sessionId": session["id"], "type": "note", "content": "only once"}

    first = api.post("/v1/aip/blocks", json=body, headers={"Idempotency-Key": "blk-1"})
    api.post("/v1/aip/blocks", json=body, headers={"Idempotency-Key": "blk-1"})

    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["blocks"] == [first.json()["data"]["id"]] and view["metrics"]["blockCount"] == 1


def test_keys_belong_to_their_caller(api, other_api):
    mine = api.post("/v1/aip/sessions", json={"name": "mine"}, headers={"Idempotency-Key": "shared"})

    theirs = other_api.post("/v1/aip/sessions", json={"name": "mine"}, headers={"Idempotency-Key": "shared"})

    assert theirs.status_code == 201 and theirs.json()["data"]["id"] != mine.json()["data"]["id"]
    assert "Idempotent-Replayed" not in theirs.headers


def test_a_refused_request_is_not_remembered(api):
    headers = {"Idempotency-Key": "fix-me"}
    assert api.post("/v1/aip/sessions", json={"name": ""}, headers=headers).status_code == 422

    assert api.post("/v1/aip/sessions", json={"name": "fixed"}, headers=headers).status_code == 201


def test_admin_creates_are_idempotent_too(http):
    headers = {"X-Admin-Key": ADMIN_KEY, "Idempotency-Key": "tenant-1"}

    first = http.post("/v1/admin/tenants", json={"name": "acme"}, headers=headers)
    again = http.post("/v1/admin/tenants", json={"name": "acme"}, headers=headers)

    assert again.json()["data"]["id"] == first.json()["data"]["id"]


def test_an_overlong_key_is_400(api):
    response = api.post("/v1/aip/sessions", json={"name": "x"}, headers={"Idempotency-Key": "k" * 256})

    assert response.status_code == 400


def test_a_message_retried_under_one_key_is_recorded_once_and_runs_one_turn(api, code_assistant, aws):
    import boto3

    session = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()
    body = {"message": {"content": [{"type": "text", "text": "only once"}]}}
    path = f"/v1/sessions/{session['id']}/messages"

    first = api.post(path, json=body, headers={"Idempotency-Key": "msg-1"})
    again = api.post(path, json=body, headers={"Idempotency-Key": "msg-1"})

    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert [m["id"] for m in api.get(f"{path}").json()["data"]] == [first.json()["id"]]
    queued = boto3.client("sqs").receive_message(QueueUrl=aws["TurnQueue"], MaxNumberOfMessages=10)["Messages"]
    assert len(queued) == 1


def test_the_same_json_with_keys_in_another_order_is_the_same_request(api):
    headers = {"Idempotency-Key": "reordered", "Content-Type": "application/json"}
    first = api.post("/v1/aip/sessions", content='{"name": "once", "tags": ["a"]}', headers=headers)

    again = api.post("/v1/aip/sessions", content='{"tags":["a"],"name":"once"}', headers=headers)

    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()


def _big_append(api, text_of) -> tuple[str, dict, str]:  # type: ignore[no-untyped-def]
    """An append whose answer (the blocks, content included) is about 1 MB: its session, body and path."""
    session = create_session(api)["id"]
    body = {"blocks": [{"type": "note", "content": text_of(n)} for n in range(6)]}
    return session, body, f"/v1/aip/sessions/{session}/blocks"


def test_an_answer_too_large_for_one_item_is_kept_compressed_and_replayed_whole(api):
    session, body, path = _big_append(api, lambda n: f"note {n}: " + "the table is on-demand. " * 7_000)

    first = api.post(path, json=body, headers={"Idempotency-Key": "big-answer"})
    again = api.post(path, json=body, headers={"Idempotency-Key": "big-answer"})

    assert first.status_code == again.status_code == 201, first.text
    assert len(first.content) > 900_000 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.get(f"/v1/aip/sessions/{session}").json()["data"]["metrics"]["blockCount"] == 6


def test_an_answer_too_large_to_keep_even_compressed_is_answered_and_its_replay_says_so(api):
    import secrets

    session, body, path = _big_append(api, lambda n: secrets.token_urlsafe(120_000))

    first = api.post(path, json=body, headers={"Idempotency-Key": "random"})
    again = api.post(path, json=body, headers={"Idempotency-Key": "random"})

    assert first.status_code == 201 and len(first.content) > 900_000
    assert again.status_code == 409 and again.json()["error"]["code"] == "answer_not_kept"
    assert "applied" in again.json()["error"]["message"]
    assert api.get(f"/v1/aip/sessions/{session}").json()["data"]["metrics"]["blockCount"] == 6  # not twice
