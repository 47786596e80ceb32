"""A runtime session's event log: read on from `since_id` as JSON and as SSE, its entries expiring while messages and
blocks stay, and a turn's last events queuing an automatic compaction."""

import json
import time

from tests.dynamo_calls import CallCounter
from tests.integration.turns.helpers import events_of, say


def test_events_resume_from_since_id_as_json_and_as_sse(api, session, run_turns):
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("stream me"))
    run_turns()
    events = events_of(api, session["id"])

    resumed = events_of(api, session["id"], since_id=events[2]["id"])
    assert resumed == events[3:]
    page = api.get(f"/v1/sessions/{session['id']}/events", params={"since_id": events[0]["id"], "limit": 2}).json()
    assert page["data"] == events[1:3] and page["has_more"] and page["next_cursor"] == events[2]["id"]
    newest = api.get(f"/v1/sessions/{session['id']}/events", params={"limit": 2}).json()
    assert newest["data"] == events[-2:]  # Everruns' limit: the newest N, oldest first
    assert not newest["has_more"] and newest["next_cursor"] is None  # older ones: before_sequence, not a since_id

    streamed = api.get(f"/v1/sessions/{session['id']}/sse", params={"since_id": events[2]["id"]})
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    frames = [frame for frame in streamed.text.split("\n\n") if frame.startswith("event:") and "\nid: " in frame]
    assert len(frames) == len(events) - 3
    for frame, event in zip(frames, events[3:], strict=True):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        assert lines["event"] == event["type"] and lines["id"] == event["id"]
        assert json.loads(lines["data"]) == event

    by_header = api.get(f"/v1/sessions/{session['id']}/sse", headers={"Last-Event-ID": events[-2]["id"]}).text
    assert [line for line in by_header.split("\n") if line.startswith("id: ")] == [f"id: {events[-1]['id']}"]
    # nothing new: the stream sends heartbeat comments while it waits (SSE_HEARTBEAT_SECONDS is 0.3 in tests)
    assert ": heartbeat" in by_header


def test_a_foreign_or_malformed_since_id_is_a_400(api, session, code_assistant):
    other = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()
    api.post(f"/v1/sessions/{other['id']}/messages", json=say("x"))
    foreign = events_of(api, other["id"])[0]["id"]

    for since_id in (foreign, "event_zz", "nonsense"):
        for path in ("events", "sse"):
            response = api.get(f"/v1/sessions/{session['id']}/{path}", params={"since_id": since_id})
            assert response.status_code == 400, (since_id, path)
            assert "since_id" in response.json()["error"]["message"]


def test_event_log_entries_and_turn_items_expire_while_messages_and_blocks_stay(api, session, run_turns):
    from agentctx.store.dynamo import dynamodb_client, from_item, to_item

    api.post(f"/v1/sessions/{session['id']}/messages", json=say("keep my words"))
    run_turns()
    items = dynamodb_client().query(
        TableName="test-context",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=to_item({":pk": f"T#{api.tenant_id}#S#{session['id'][len('session_') :]}"}),
    )["Items"]
    by_kind: dict[str, list[dict]] = {}
    for item in map(from_item, items):
        by_kind.setdefault(item["sk"].split("#")[0], []).append(item)
    ninety_days = time.time() + 90 * 86_400
    for kind in ("E", "TQ"):
        assert all(abs(item["expiresAt"] - ninety_days) < 600 for item in by_kind[kind]), kind
    for kind in ("B", "M", "SESSION"):
        assert all("expiresAt" not in item for item in by_kind[kind]), kind


def test_a_turn_that_fills_the_session_queues_one_automatic_compaction(api, run_turns, aws):
    from infra.local_worker import QueueWorker
    from tests.conftest import OFFLINE_MODEL
    from tests.integration.compaction.helpers import SENTENCE, compaction_handler, jobs_of

    model = api.post("/v1/models", json={**OFFLINE_MODEL, "context_window": 1_000, "max_output_tokens": 100}).json()
    agent = api.post("/v1/agents", json={"name": "Tiny", "default_model_id": model["id"]}).json()
    session_id = api.post("/v1/sessions", json={"agent_id": agent["id"]}).json()["id"]
    aip_id = "sess_" + session_id[len("session_") :]

    api.post(f"/v1/sessions/{session_id}/messages", json=say("short question"))
    run_turns()
    assert jobs_of(api, aip_id) == []  # far below 800 tokens (80 % of the window)

    api.post(f"/v1/sessions/{session_id}/messages", json=say(SENTENCE * 65))  # about 850 tokens
    run_turns()
    assert jobs_of(api, aip_id) == [("auto", "queued")]
    api.post(f"/v1/sessions/{session_id}/messages", json=say(SENTENCE * 5))
    run_turns()
    assert jobs_of(api, aip_id) == [("auto", "queued")]  # one pending job, not one per turn

    QueueWorker(aws["CompactionQueue"], compaction_handler()).poll(wait_seconds=0)
    assert jobs_of(api, aip_id) == [("auto", "completed")]
    api.post(f"/v1/sessions/{session_id}/messages", json=say("after the compaction"))
    run_turns()
    messages = api.get(f"/v1/sessions/{session_id}/messages", params={"limit": 100}).json()["data"]
    assert len(messages) == 8 and messages[-1]["role"] == "agent"


def test_stored_deltas_grow_with_the_answer_not_its_square_and_every_read_has_the_answer_so_far(
    api, session, run_turns
):
    from agentctx import ids
    from agentctx.store.dynamo import dynamodb_client
    from agentctx.store.keys import EVENT_SK_PREFIX, session_pk

    api.post(f"/v1/sessions/{session['id']}/messages", json=say("tell me a long story " + "word " * 300))
    run_turns()
    with CallCounter("test-context").measure() as whole_log:
        events = events_of(api, session["id"])
    deltas = [event for event in events if event["type"] == "output.message.delta"]
    answer = "".join(delta["data"]["delta"] for delta in deltas)
    assert len(deltas) > 20

    stored = dynamodb_client().query(
        TableName="test-context",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :events)",
        ExpressionAttributeValues={
            ":pk": {"S": session_pk(api.tenant_id, ids.parse_session_id(session["id"]) or "")},
            ":events": {"S": EVENT_SK_PREFIX},
        },
    )["Items"]
    stored_deltas = [item["record"]["S"] for item in stored if '"output.message.delta"' in item["record"]["S"]]
    assert len(stored_deltas) == len(deltas)
    sizes = [len(record.encode()) for record in stored_deltas]
    assert max(sizes) - min(sizes) < 40  # what one delta costs does not grow with the answer before it

    for delta in deltas:  # the answer so far, in a page of the whole log
        assert answer.startswith(delta["data"]["accumulated"]) and delta["data"]["accumulated"].endswith(
            delta["data"]["delta"]
        )
    assert deltas[-1]["data"]["accumulated"] == answer
    assert whole_log["detail"] == "GetItem 1, Query 1"  # a read from an answer's start reads nothing more
    middle = deltas[len(deltas) // 2]
    with CallCounter("test-context").measure() as from_the_middle:
        resumed = events_of(api, session["id"], since_id=events[events.index(middle) - 1]["id"])
    assert from_the_middle["detail"] == "GetItem 1, Query 2"  # and from its middle, one Query back
    assert resumed[0] == middle  # read from the middle of the answer: the same answer so far
    streamed = api.get(f"/v1/sessions/{session['id']}/sse", params={"since_id": middle["id"]})
    first = next(frame for frame in streamed.text.split("\n\n") if frame.startswith("event: output.message.delta"))
    data = json.loads(dict(line.split(": ", 1) for line in first.split("\n"))["data"])
    assert data == deltas[len(deltas) // 2 + 1]
