"""Triggers in: invocation requests through the trigger queue (directly or routed by EventBridge) append blocks,
run the invocation without streaming, save it, and publish its result; each message runs once."""

import json

import boto3

from infra.local_worker import sqs_event
from tests.events import LambdaContext
from tests.integration.test_events import subscriber  # noqa: F401 - the fixture
from tests.integration.test_sessions_api import create_session
from tests.template.conftest import functions, load_handler, sam_template

ARN = "arn:aws:sqs:us-east-1:123456789012:test-triggers"


def trigger_handler():
    return load_handler(functions(sam_template())["TriggerFunction"])


def message(body: dict, message_id: str = "m-1") -> dict:
    return {"MessageId": message_id, "ReceiptHandle": "r", "Body": json.dumps(body)}


def request(api, session_id: str, **extra) -> dict:
    return {
        "tenantId": api.tenant_id,
        "correlationId": "upload-42",
        "blocks": [{"type": "file", "content": {"path": "reports/q3.csv", "content": "region,revenue\neu,10"}}],
        "invoke": {"agent": "code-assistant", "prompt": "Summarise the new report", "session": session_id},
        **extra,
    }


def results(received) -> list[dict]:
    return [event["detail"]["data"] for event in received() if event["detail-type"] == "Invocation Result"]


def test_a_request_appends_blocks_invokes_saves_and_publishes_its_result(api, code_assistant, subscriber):  # noqa: F811
    session = create_session(api)

    response = trigger_handler()(sqs_event([message(request(api, session["id"]))], ARN), LambdaContext())

    assert response == {"batchItemFailures": []}
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["metrics"]["invocationCount"] == 1 and view["metrics"]["blockCount"] == 3
    (result,) = results(subscriber)
    assert result["correlationId"] == "upload-42" and result["status"] == "completed"
    assert result["context"]["blockIds"] == [view["blocks"][0]]
    assert "Summarise the new report" in result["output"]


def test_the_same_message_delivered_twice_runs_once(api, code_assistant, subscriber):  # noqa: F811
    session = create_session(api)
    event = sqs_event([message(request(api, session["id"]), "dup-1")], ARN)

    trigger_handler()(event, LambdaContext())
    trigger_handler()(event, LambdaContext())

    metrics = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]
    assert metrics["invocationCount"] == 1 and metrics["blockCount"] == 3
    assert len({result["requestId"] for result in results(subscriber)}) == 1


def test_an_eventbridge_event_routed_to_the_queue_is_a_request(api, code_assistant, subscriber):  # noqa: F811
    session = create_session(api)
    routed = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Agent Invocation Requested",
        "source": "com.example.uploads",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": request(api, session["id"]),
    }

    trigger_handler()(sqs_event([message(routed)], ARN), LambdaContext())

    (result,) = results(subscriber)
    assert result["requestId"] == routed["id"] and result["status"] == "completed"


def test_a_request_that_cannot_succeed_gets_a_failed_result_and_no_retry(api, subscriber):  # noqa: F811
    session = create_session(api)
    unknown_agent = request(api, session["id"])
    unknown_agent["invoke"]["agent"] = "nobody"
    invalid = {"tenantId": "not-a-tenant", "invoke": {}}

    response = trigger_handler()(sqs_event([message(unknown_agent, "a"), message(invalid, "b")], ARN), LambdaContext())

    assert response == {"batchItemFailures": []}
    failures = {result["requestId"]: result for result in results(subscriber)}
    assert failures["a"]["status"] == "failed" and failures["a"]["error"]["code"] == "NotFound"
    assert failures["b"]["error"]["code"] == "validation_error"


def test_a_passing_model_failure_is_retried_without_appending_twice(api, code_assistant, monkeypatch):
    from agentctx.providers.base import ProviderError
    from agentctx.wiring import agent_loop

    session = create_session(api)
    service = agent_loop()
    real = service.provider_for
    calls = {"n": 0}

    class Throttled:
        def stream(self, model_request):
            raise ProviderError("throttled", "slow down", retryable=True)
            yield

    def flaky(model):
        calls["n"] += 1
        return Throttled() if calls["n"] == 1 else real(model)

    monkeypatch.setattr(service, "provider_for", flaky)
    event = sqs_event([message(request(api, session["id"]), "retry-1"), message({"tenantId": "x"}, "other")], ARN)

    first = trigger_handler()(event, LambdaContext())
    second = trigger_handler()(sqs_event([message(request(api, session["id"]), "retry-1")], ARN), LambdaContext())

    assert first == {"batchItemFailures": [{"itemIdentifier": "retry-1"}]}
    assert second == {"batchItemFailures": []}
    blocks = api.get(f"/v1/aip/sessions/{session['id']}/blocks?type=file&includeCompacted=true").json()["data"]
    assert len(blocks) == 1


def test_the_rule_routes_requests_from_the_default_bus_to_the_queue(aws):
    """Only requests of the configured source from this account: other principals' events stay out."""
    events = boto3.client("events")
    template = sam_template()
    rule = template["Resources"]["TriggerRule"]["Properties"]
    source = template["Parameters"]["TriggerEventSource"]["Default"]
    pattern = rule["EventPattern"] | {"source": [source], "account": ["123456789012"]}  # the Refs, resolved
    events.put_rule(Name="trigger", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="trigger",
        Targets=[
            {
                "Id": "q",
                "Arn": boto3.client("sqs").get_queue_attributes(
                    QueueUrl=aws["TriggerQueue"], AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"],
            }
        ],
    )

    for sender, detail in ((source, {"x": 1}), ("com.example", {"x": 2})):
        events.put_events(
            Entries=[{"Source": sender, "DetailType": "Agent Invocation Requested", "Detail": json.dumps(detail)}]
        )

    received = boto3.client("sqs").receive_message(QueueUrl=aws["TriggerQueue"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["detail"] for m in received.get("Messages", [])] == [{"x": 1}]


def test_an_unreadable_message_goes_to_the_dead_letter_queue_after_three_tries(aws):
    from infra.local_worker import QueueWorker

    sqs = boto3.client("sqs")
    sqs.set_queue_attributes(QueueUrl=aws["TriggerQueue"], Attributes={"VisibilityTimeout": "0"})
    sqs.send_message(QueueUrl=aws["TriggerQueue"], MessageBody="{broken")
    worker = QueueWorker(aws["TriggerQueue"], trigger_handler())

    for _ in range(4):
        worker.poll(wait_seconds=0)

    dead = sqs.receive_message(QueueUrl=aws["TriggerDeadLetterQueue"]).get("Messages", [])
    assert [message["Body"] for message in dead] == ["{broken"]
