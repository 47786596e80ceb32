"""A turn whose function fails: the queue delivers it again and it finishes once, and its last attempt ends it as
failed."""

import json
import time
from collections.abc import Iterator

import pytest

from agentctx.providers.base import ModelRequest
from tests.integration.turns.helpers import events_of, say


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
    from agentctx.store.turn_jobs import TurnJob
    from agentctx.wiring import turn_service

    job = TurnJob.from_body(json.loads(message["Body"]))
    assert job.session_hex == session_hex
    assert turn_service().run(job) == []
    assert len(events_of(api, session["id"])) == len(events)


def test_the_last_attempt_ends_the_turn_as_failed(api, session, aws, crash_once):
    from agentctx.store.queue import sqs_client
    from agentctx.store.turn_jobs import TurnJob
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
