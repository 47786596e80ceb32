"""Events out: committed changes become EventBridge events (from the table's stream), published again on retry
and delivered exactly once to a subscriber that deduplicates on the event id."""

import json
import sys

import boto3
import pytest

from agentctx.store.stream_events import events_from_stream_record
from tests.events import LambdaContext
from tests.integration.test_sessions_api import append, create_session, note
from tests.template.conftest import functions, load_handler, sam_template


def events_handler():
    return load_handler(functions(sam_template())["EventsFunction"])


@pytest.fixture
def subscriber(aws):
    """An SQS queue subscribed to every agentctx event on the bus, as another system would subscribe."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="test-events", EventPattern=json.dumps({"source": ["agentctx"]}))
    events.put_targets(Rule="all", EventBusName="test-events", Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict]:
        messages = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                messages.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    return received


def stream(aws):
    from infra.local_streams import StreamReader

    return StreamReader("test-context")


def every_kind_of_change(api) -> dict:  # type: ignore[no-untyped-def]
    """Create, append, invoke, compact, fork and delete; the session that stays."""
    session = create_session(api, tags=["t"])
    append(api, session["id"], *[note(f"n{i} " + "words " * 30) for i in range(8)])
    api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "hi", "session": session["id"]})
    api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 100})
    fork = api.post(f"/v1/aip/sessions/{session['id']}/fork", json={"name": "f"}).json()["data"]
    api.delete(f"/v1/aip/sessions/{fork['id']}")
    return session


def test_each_change_becomes_its_event(api, code_assistant, compaction_worker, subscriber):
    reader = stream(None)
    session = every_kind_of_change(api)

    response = events_handler()(reader.read(), LambdaContext())

    assert response == {"batchItemFailures": []}
    delivered = subscriber()
    kinds = [event["detail-type"] for event in delivered]
    for kind in [
        "Session Created",
        "Blocks Appended",
        "Invocation Started",
        "Invocation Completed",
        "Compaction Completed",
        "Session Forked",
        "Session Deleted",
    ]:
        assert kind in kinds, kind
    created = next(event for event in delivered if event["detail-type"] == "Session Created")
    assert created["source"] == "agentctx"
    assert created["detail"]["tenantId"] == api.tenant_id and created["detail"]["version"] == "1"
    assert created["detail"]["data"] == {"sessionId": session["id"], "name": "Auth Feature - Q1", "tags": ["t"]}
    assert len({event["detail"]["id"] for event in delivered}) == len(delivered)


class FailsOnce:
    """The bus, failing its first publish as EventBridge may."""

    def __init__(self, bus):
        self.bus, self.failed = bus, False

    def publish(self, events):
        if not self.failed:
            self.failed = True
            from agentctx.store.event_bus import PublishFailed

            raise PublishFailed("1 of 1 events were not accepted")
        self.bus.publish(events)


def test_an_event_whose_publish_failed_goes_out_on_retry_exactly_once(api, subscriber, monkeypatch):
    reader = stream(None)
    session = create_session(api)
    batch = reader.read()
    session_record = next(r for r in batch["Records"] if r["dynamodb"]["Keys"]["sk"]["S"] == "SESSION")
    handler = events_handler()
    import agentctx.wiring

    flaky = FailsOnce(agentctx.wiring.event_bus())
    monkeypatch.setattr(sys.modules[handler.__module__], "event_bus", lambda: flaky)

    first = handler(batch, LambdaContext())  # the session item and its listing item, written together
    assert len(batch["Records"]) > 1
    assert first["batchItemFailures"] == [{"itemIdentifier": session_record["dynamodb"]["SequenceNumber"]}]
    assert subscriber() == []

    retried = handler({"Records": [session_record]}, LambdaContext())
    redelivered = handler({"Records": [session_record]}, LambdaContext())  # the mapping may deliver it again

    assert retried == redelivered == {"batchItemFailures": []}
    delivered = subscriber()
    assert {event["detail"]["id"] for event in delivered} == {events_from_stream_record(session_record)[0].id}
    assert [event["detail"]["data"]["sessionId"] for event in delivered][0] == session["id"]


def test_items_that_are_not_domain_changes_publish_nothing(api):
    reader = stream(None)
    api.post(
        "/v1/models",
        json={
            "name": "m",
            "provider": "offline",
            "provider_model_id": "x",
            "context_window": 2000,
            "max_output_tokens": 10,
        },
    )
    create_session(api, tags=["a"])

    kinds = [event.detail_type for record in reader.read()["Records"] for event in events_from_stream_record(record)]

    assert kinds == ["Session Created"]


def test_a_turn_that_ends_publishes_its_outcome_and_not_its_steps(api, code_assistant, subscriber, aws):
    from infra.local_worker import QueueWorker

    turns = QueueWorker(aws["TurnQueue"], load_handler(functions(sam_template())["TurnFunction"]))
    reader = stream(None)
    session = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()
    say = {"message": {"content": [{"type": "text", "text": "What is current_time?"}]}}
    message = api.post(f"/v1/sessions/{session['id']}/messages", json=say).json()
    turns.poll(wait_seconds=0)
    api.post(f"/v1/sessions/{session['id']}/messages", json=say)
    api.post(f"/v1/sessions/{session['id']}/cancel")
    turns.poll(wait_seconds=0)

    assert events_handler()(reader.read(), LambdaContext()) == {"batchItemFailures": []}

    delivered = [event for event in subscriber() if event["detail-type"].startswith("Turn ")]
    assert [event["detail-type"] for event in delivered] == ["Turn Completed", "Turn Cancelled"]
    completed = delivered[0]["detail"]["data"]
    log = api.get(f"/v1/sessions/{session['id']}/events", params={"limit": 100}).json()["data"]
    logged = next(event for event in log if event["type"] == "turn.completed")
    assert completed == {
        "sessionId": "sess_" + session["id"][len("session_") :],
        "turnId": message["turn_id"],
        "inputMessageId": message["id"],
        "eventId": logged["id"],
        "status": "completed",
        "usage": logged["data"]["usage"],
        "blocksCreated": logged["data"]["blocks_created"],
        "error": None,
    }
    assert len(completed["blocksCreated"]) == 2  # the current_time result and the answer
    assert (
        delivered[1]["detail"]["data"]["status"] == "cancelled"
        and delivered[1]["detail"]["data"]["blocksCreated"] == []
    )


def stream_filters() -> list:
    from moto.events.models import EventPattern

    mapping = functions(sam_template())["EventsFunction"]["Events"]["ContextChanges"]["Properties"]
    return [EventPattern.load(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]


def test_the_stream_filter_passes_every_record_that_is_an_event_and_no_turn_steps(
    api, code_assistant, compaction_worker, aws
):
    from infra.local_worker import QueueWorker

    turns = QueueWorker(aws["TurnQueue"], load_handler(functions(sam_template())["TurnFunction"]))
    reader = stream(None)
    every_kind_of_change(api)
    runtime = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()
    say = {"message": {"content": [{"type": "text", "text": "What is current_time? " + "Explain. " * 60}]}}
    api.post(f"/v1/sessions/{runtime['id']}/messages", json=say)
    turns.poll(wait_seconds=0)

    records = reader.read()["Records"]
    filters = stream_filters()
    plain = [json.loads(json.dumps(record, default=str)) for record in records]  # as Lambda receives them
    passed = [r for r, p in zip(records, plain, strict=True) if any(f.matches_event(p) for f in filters)]
    with_events = [record for record in records if events_from_stream_record(record)]

    assert with_events and all(record in passed for record in with_events)
    kinds = {event.detail_type for record in passed for event in events_from_stream_record(record)}
    assert {"Session Created", "Blocks Appended", "Compaction Completed", "Session Deleted", "Turn Completed"} <= kinds
    log_records = [record for record in records if record["dynamodb"]["Keys"]["sk"]["S"].startswith("E#")]
    assert len(log_records) > 20 and [r for r in log_records if r in passed] == [
        r for r in log_records if events_from_stream_record(r)
    ]
    assert len(passed) < len(records) / 2, (len(passed), len(records))
