"""Turns of `/v1/sessions`: the FIFO turn queue, the turn function, the event log, messages and the SSE stream."""

import json
import re
import time
from collections.abc import Iterator

import pytest

from agentctx.providers.base import ModelRequest, TextDelta, Usage

HEX32 = r"[0-9a-f]{32}"
TURN_EVENTS = [
    "input.message",
    "session.activated",
    "turn.started",
    "output.message.started",
    "output.message.delta",
    "output.message.completed",
    "turn.completed",
    "session.idled",
]


def say(text: str) -> dict:
    return {"message": {"content": [{"type": "text", "text": text}]}}


@pytest.fixture
def turn_handler(aws):  # type: ignore[no-untyped-def]
    from tests.template.conftest import functions, load_handler, sam_template

    return load_handler(functions(sam_template())["TurnFunction"])


@pytest.fixture
def run_turns(aws, turn_handler):  # type: ignore[no-untyped-def]
    """Deliver what the turn queue holds to the turn function, as the event source mapping does, until it is empty."""
    from infra.local_worker import QueueWorker

    worker = QueueWorker(aws["TurnQueue"], turn_handler, batch_size=10)

    def run() -> None:
        while worker.poll(wait_seconds=0):
            pass

    return run


@pytest.fixture
def session(api, code_assistant):  # type: ignore[no-untyped-def]
    body = {
        "agent_id": code_assistant["agent"]["id"],
        "title": "Turns",
        "capabilities": [{"ref": "session_file_system"}],
    }
    return api.post("/v1/sessions", json=body).json()


def events_of(api, session_id: str, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    response = api.get(f"/v1/sessions/{session_id}/events", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]


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


class CrashOnce:
    """A model connection that drops mid-answer the first time (an error that is not the provider's)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.calls = 0

    def __call__(self, model):  # type: ignore[no-untyped-def]
        return self

    def stream(self, request: ModelRequest) -> Iterator:
        self.calls += 1
        for index, event in enumerate(self.inner.stream(request)):
            if self.calls == 1 and index == 3:
                raise ConnectionResetError("connection lost")
            yield event


@pytest.fixture
def crash_once():  # type: ignore[no-untyped-def]
    from agentctx.providers.offline import OfflineProvider
    from agentctx.wiring import agent_loop

    service = agent_loop()
    original = service.provider_for
    crash = CrashOnce(OfflineProvider())
    service.provider_for = crash
    yield crash
    service.provider_for = original


def test_a_turn_cut_off_mid_answer_is_delivered_again_and_finishes_once(api, session, turn_handler, aws, crash_once):
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event
    from tests.events import LambdaContext

    api.post(f"/v1/sessions/{session['id']}/messages", json=say("Please survive"))
    queue = aws["TurnQueue"]
    arn = sqs_client().get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def receive() -> dict:
        return sqs_client().receive_message(QueueUrl=queue, AttributeNames=["All"])["Messages"][0]

    message = receive()
    # the job failed: the function reports it, and the queue delivers it again after TURN_RETRY_SECONDS (2 s),
    # not after the queue's visibility timeout of half an hour
    response = turn_handler(sqs_event([message], arn), LambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert api.get(f"/v1/sessions/{session['id']}").json()["status"] == "active"
    assert sqs_client().receive_message(QueueUrl=queue).get("Messages", []) == []
    time.sleep(2.1)

    message = receive()
    assert message["Attributes"]["ApproximateReceiveCount"] == "2"
    assert turn_handler(sqs_event([message], arn), LambdaContext())["batchItemFailures"] == []

    events = events_of(api, session["id"])
    starts = [e["data"]["attempt"] for e in events if e["type"] == "turn.started"]
    assert starts == [1, 2]
    assert [e["type"] for e in events].count("turn.completed") == 1
    assert [e["type"] for e in events].count("output.message.completed") == 1
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    messages = api.get(f"/v1/sessions/{session['id']}/messages").json()["data"]
    assert [m["role"] for m in messages] == ["user", "agent"]

    # delivered once more (a duplicate), the finished turn is left alone
    session_hex = session["id"][8:]
    from agentctx.turn_jobs import TurnJob
    from agentctx.wiring import turn_service

    job = TurnJob.from_body(json.loads(message["Body"]))
    assert job.session_hex == session_hex
    assert turn_service().run(job) == []
    assert len(events_of(api, session["id"])) == len(events)


def test_the_last_attempt_ends_the_turn_as_failed(api, session, aws, crash_once):
    from agentctx.store.queue import sqs_client
    from agentctx.turn_jobs import TurnJob
    from agentctx.wiring import turn_service

    crash_once.stream = lambda request: (_ for _ in ()).throw(ConnectionResetError("down"))  # type: ignore[method-assign]
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("doomed"))
    queued = sqs_client().receive_message(QueueUrl=aws["TurnQueue"])["Messages"][0]
    job = TurnJob.from_body(json.loads(queued["Body"]))

    # attempts are counted on the session (TURN_MAX_ATTEMPTS is 3), whichever delivery carried the turn
    for _ in range(2):
        with pytest.raises(ConnectionResetError):
            turn_service().run(job)
    assert turn_service().run(job) == ["failed"]
    starts = [e["data"]["attempt"] for e in events_of(api, session["id"]) if e["type"] == "turn.started"]
    assert starts == [1, 2, 3]

    events = events_of(api, session["id"])
    failed = next(e for e in events if e["type"] == "turn.failed")
    assert failed["data"]["error_code"] == "internal_error"
    assert events[-1]["type"] == "session.idled"
    assert api.get(f"/v1/sessions/{session['id']}").json()["status"] == "idle"


def test_cancel_stops_a_queued_turn(api, session, run_turns):
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("never mind"))
    cancelled = api.post(f"/v1/sessions/{session['id']}/cancel")
    assert cancelled.status_code == 200

    run_turns()

    types = [e["type"] for e in events_of(api, session["id"])]
    assert types == ["input.message", "turn.cancelled", "session.idled"]
    assert [m["role"] for m in api.get(f"/v1/sessions/{session['id']}/messages").json()["data"]] == ["user"]
    # the session works on: the next message gets its answer
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("now then"))
    run_turns()
    assert [e["type"] for e in events_of(api, session["id"])][-2:] == ["turn.completed", "session.idled"]


class CancelMidAnswer:
    """A model that streams, has the client cancel the session, and streams on."""

    def __init__(self, inner, cancel) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.cancel = inner, cancel

    def __call__(self, model):  # type: ignore[no-untyped-def]
        return self

    def stream(self, request: ModelRequest) -> Iterator:
        yield TextDelta("Thinking about it ")
        self.cancel()
        yield from (TextDelta(f"word{i} ") for i in range(50))
        yield Usage(10, 51)


def test_cancel_stops_a_running_turn(api, session, run_turns):
    from agentctx.wiring import agent_loop

    service = agent_loop()
    original = service.provider_for
    service.provider_for = CancelMidAnswer(None, lambda: api.post(f"/v1/sessions/{session['id']}/cancel"))
    try:
        api.post(f"/v1/sessions/{session['id']}/messages", json=say("long answer please"))
        run_turns()
    finally:
        service.provider_for = original

    events = events_of(api, session["id"])
    types = [e["type"] for e in events]
    assert types[-2:] == ["turn.cancelled", "session.idled"]
    assert "turn.completed" not in types and "output.message.completed" not in types
    assert api.get(f"/v1/sessions/{session['id']}").json()["status"] == "idle"


def test_fork_is_refused_while_a_turn_runs_and_copies_everything_after(api, session, run_turns):
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("remember this"))

    refused = api.post(f"/v1/sessions/{session['id']}/fork")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"

    run_turns()
    fork = api.post(f"/v1/sessions/{session['id']}/fork")

    assert fork.status_code == 201, fork.text
    forked = fork.json()
    source = api.get(f"/v1/sessions/{session['id']}").json()
    assert forked["id"] != source["id"]
    for field in ("agent_id", "title", "tags", "model_id", "capabilities", "features", "preview", "output_preview"):
        assert forked[field] == source[field], field
    assert forked["status"] == "started"
    assert api.get(f"/v1/sessions/{forked['id']}").json() == forked  # the response and later reads agree
    source_messages = api.get(f"/v1/sessions/{session['id']}/messages").json()["data"]
    fork_messages = api.get(f"/v1/sessions/{forked['id']}/messages").json()["data"]
    assert [m["content"] for m in fork_messages] == [m["content"] for m in source_messages]
    assert {m["session_id"] for m in fork_messages} == {forked["id"]}
    assert events_of(api, forked["id"]) == []
    aip_blocks = api.get(f"/v1/aip/sessions/sess_{forked['id'][8:]}/blocks").json()["data"]
    assert len(aip_blocks) == 2


def test_events_resume_from_since_id_as_json_and_as_sse(api, session, run_turns):
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("stream me"))
    run_turns()
    events = events_of(api, session["id"])

    resumed = events_of(api, session["id"], since_id=events[2]["id"])
    assert resumed == events[3:]
    page = api.get(f"/v1/sessions/{session['id']}/events", params={"since_id": events[0]["id"], "limit": 2}).json()
    assert page["data"] == events[1:3] and page["has_more"] and page["next_cursor"] == events[2]["id"]
    newest = api.get(f"/v1/sessions/{session['id']}/events", params={"limit": 2}).json()
    assert newest["data"] == events[-2:] and newest["has_more"]  # Everruns' limit: the newest N, oldest first

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


def test_a_turn_that_fills_the_session_queues_one_automatic_compaction(api, run_turns, aws):
    from infra.local_worker import QueueWorker
    from tests.conftest import OFFLINE_MODEL
    from tests.integration.test_compaction import SENTENCE, compaction_handler, jobs_of

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


def all_messages(api, session_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    messages, cursor = [], None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = api.get(f"/v1/sessions/{session_id}/messages", params=params).json()
        messages += page["data"]
        if not page["has_more"]:
            return messages
        cursor = page["next_cursor"]


def test_a_runtime_fork_costs_the_same_at_any_size_and_is_usable_at_once(api, session, run_turns, aws):
    """The fork request copies no messages itself (the session job does, after it answers): the same calls for a
    source of 2 messages and one of 352, and the fork lists, takes messages and runs turns at once."""
    from agentctx import ids
    from agentctx.store.dynamo import batch_write
    from agentctx.store.items import message_item
    from agentctx.store.keys import session_pk
    from tests.integration.test_bounded_requests import calls_of, partition_items, run_session_jobs

    small = session
    large = api.post("/v1/sessions", json={"agent_id": session["agent_id"], "title": "large"}).json()
    for source in (small, large):
        api.post(f"/v1/sessions/{source['id']}/messages", json=say("remember this"))
        run_turns()
    large_hex = large["id"].removeprefix(ids.RUNTIME_SESSION_PREFIX)
    (first, _) = api.get(f"/v1/sessions/{large['id']}/messages").json()["data"]
    earlier = []
    for number in range(350):  # older messages, written straight to the store
        key = ids.new_order_key()
        earlier.append(first | {"id": f"message_{number:032x}", "order_key": key, "content": [{"text": f"m{number}"}]})
    pk = session_pk(api.tenant_id, large_hex)
    batch_write("test-context", [{"PutRequest": {"Item": message_item(pk, m)}} for m in earlier])
    before = all_messages(api, large["id"])
    assert len(before) == 352

    on_small = calls_of(lambda: api.post(f"/v1/sessions/{small['id']}/fork"))
    on_large = calls_of(lambda: api.post(f"/v1/sessions/{large['id']}/fork"))

    assert on_small["detail"] == on_large["detail"]
    fork = on_large["response"].json()
    assert on_large["response"].status_code == 201 and fork["title"] == "large"
    fork_hex = fork["id"].removeprefix(ids.RUNTIME_SESSION_PREFIX)
    assert sum(sk.startswith("M#") for sk in partition_items(api.tenant_id, fork_hex)) < 100  # a page at most
    # Before the copy: the messages read through the source, shown as the fork's; a message and its turn work.
    listed = all_messages(api, fork["id"])
    assert [m["content"] for m in listed] == [m["content"] for m in before]
    assert {m["session_id"] for m in listed} == {fork["id"]}
    posted = api.post(f"/v1/sessions/{fork['id']}/messages", json=say("and now this"))
    assert posted.status_code == 201, posted.text
    run_turns()
    after_turn = all_messages(api, fork["id"])
    assert after_turn[:352] == listed and [m["role"] for m in after_turn[352:]] == ["user", "agent"]
    assert events_of(api, fork["id"])[-1]["type"] == "session.idled"

    run_session_jobs(aws)

    assert all_messages(api, fork["id"]) == after_turn  # the same once copied
    assert sum(sk.startswith("M#") for sk in partition_items(api.tenant_id, fork_hex)) == 354
    assert all_messages(api, large["id"]) == before  # the source is untouched
