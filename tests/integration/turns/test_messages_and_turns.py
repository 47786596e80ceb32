"""Turns of `/v1/sessions`: a message is recorded at once and its turn runs from the FIFO turn queue, one session's
turns in order, malformed messages refused, and each session's files its own."""

import json
import re

from tests.integration.turns.helpers import events_of, say

HEX32 = r"[0-9a-f]{32}"
TURN_EVENTS = [
    "input.message",
    "session.activated",
    "turn.started",
    "output.message.started",
    "output.message.delta",
    "llm.generation",
    "output.message.completed",
    "turn.completed",
    "session.idled",
]


def collapsed(types: list[str]) -> list[str]:
    """Event types with runs of output deltas shown once."""
    return [t for i, t in enumerate(types) if not (t == "output.message.delta" and i and types[i - 1] == t)]


def test_a_message_is_recorded_at_once_and_its_turn_runs_on_the_queue(api, session, run_turns):
    posted = api.post(f"/v1/sessions/{session['id']}/messages", json=say("Hello there") | {"metadata": {"k": 1}})

    assert posted.status_code == 201, posted.text
    message = posted.json()
    assert re.fullmatch(rf"message_{HEX32}", message["id"]) and message["role"] == "user"
    assert message["content"] == [{"type": "text", "text": "Hello there"}] and message["metadata"] == {"k": 1}
    assert [e["type"] for e in events_of(api, session["id"])] == ["input.message"]
    assert api.get(f"/v1/sessions/{session['id']}").json()["preview"] == "Hello there"

    run_turns()

    events = events_of(api, session["id"])
    assert collapsed([e["type"] for e in events]) == TURN_EVENTS
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    turn_id = events[0]["context"]["turn_id"]
    for event in events:
        assert set(event) == {"id", "type", "ts", "session_id", "sequence", "context", "data"}
        assert re.fullmatch(rf"event_{HEX32}", event["id"])
        assert event["session_id"] == session["id"]
        assert event["context"] == {"turn_id": turn_id, "input_message_id": message["id"]}
    deltas = "".join(e["data"]["delta"] for e in events if e["type"] == "output.message.delta")
    completed = next(e for e in events if e["type"] == "output.message.completed")["data"]["message"]
    assert deltas == completed["content"][0]["text"] and deltas.startswith("Offline answer to: Hello there")

    after = api.get(f"/v1/sessions/{session['id']}").json()
    assert after["status"] == "idle" and after["output_preview"] == deltas[:200]
    assert after["usage"]["output_tokens"] > 0 and after["started_at"] and after["finished_at"]
    messages = api.get(f"/v1/sessions/{session['id']}/messages").json()["data"]
    assert [(m["role"], m["content"][0]["text"]) for m in messages] == [("user", "Hello there"), ("agent", deltas)]
    # the same turn is in the session's blocks, as the AIP surface shows them
    aip_path = f"/v1/aip/sessions/sess_{session['id'][8:]}/blocks"
    blocks = api.get(aip_path, params={"include": "content"}).json()["data"]
    assert [b["content"][0]["role"] for b in blocks] == ["user", "assistant"]


def test_turns_of_one_session_run_in_order_one_at_a_time(api, session, run_turns, aws):
    from agentctx.store.queue import sqs_client

    first = api.post(f"/v1/sessions/{session['id']}/messages", json=say("first")).json()
    second = api.post(f"/v1/sessions/{session['id']}/messages", json=say("second")).json()

    # FIFO, grouped by session: while the first turn is in flight, the session's next one is not handed out
    queue = aws["TurnQueue"]
    received = sqs_client().receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"]
    assert json.loads(received[0]["Body"])["turnSeq"] == 1
    assert sqs_client().receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []
    sqs_client().change_message_visibility(
        QueueUrl=queue, ReceiptHandle=received[0]["ReceiptHandle"], VisibilityTimeout=0
    )

    run_turns()

    events = events_of(api, session["id"])
    by_turn = [(e["type"], e["context"]["input_message_id"]) for e in events if e["type"].startswith("turn.")]
    assert by_turn == [
        ("turn.started", first["id"]),
        ("turn.completed", first["id"]),
        ("turn.started", second["id"]),
        ("turn.completed", second["id"]),
    ]
    # the second turn saw the first's question and answer in its context
    answers = [m for m in api.get(f"/v1/sessions/{session['id']}/messages").json()["data"] if m["role"] == "agent"]
    assert len(answers) == 2
    view = api.get(f"/v1/sessions/{session['id']}").json()
    assert view["status"] == "idle" and view["preview"] == "first"  # the first user message (seed 002)
    assert view["output_preview"] == answers[1]["content"][0]["text"][:200]  # the last answer


def test_bad_messages_are_refused_and_change_nothing(api, session):
    for body in (
        {},
        {"message": {"content": []}},
        {"message": {"content": [{"type": "image", "url": "x"}]}},
        {"message": {"content": [{"type": "text", "text": ""}]}},
        say("hi") | {"tags": "not-a-list"},
    ):
        response = api.post(f"/v1/sessions/{session['id']}/messages", json=body)
        assert response.status_code == 422, body
    assert events_of(api, session["id"]) == []
    assert api.get(f"/v1/sessions/{session['id']}").json()["preview"] is None


def test_session_files_belong_to_their_session(api, session, code_assistant, run_turns):
    other = api.post(
        "/v1/sessions",
        json={"agent_id": code_assistant["agent"]["id"], "capabilities": [{"ref": "session_file_system"}]},
    ).json()
    write = 'write_file {"path": "notes/plan.md", "content": "step one\\nstep two: ship it"}'
    api.post(f"/v1/sessions/{session['id']}/messages", json=say(write))
    api.post(f"/v1/sessions/{session['id']}/messages", json=say('grep_files {"pattern": "ship"}'))
    api.post(f"/v1/sessions/{other['id']}/messages", json=say('list_files {"prefix": ""}'))
    api.post(f"/v1/sessions/{session['id']}/messages", json=say('read_file {"path": "../escape"}'))
    run_turns()

    results = [e["data"] for e in events_of(api, session["id"]) if e["type"] == "tool.completed"]
    assert results[0]["output"] == {"path": "notes/plan.md", "bytes": 26} and not results[0]["is_error"]
    assert results[1]["output"]["matches"] == [{"path": "notes/plan.md", "line": 2, "text": "step two: ship it"}]
    assert results[2]["is_error"] and "invalid path" in results[2]["output"]["error"]
    elsewhere = [e["data"] for e in events_of(api, other["id"]) if e["type"] == "tool.completed"]
    assert elsewhere[0]["output"] == {"files": []}
