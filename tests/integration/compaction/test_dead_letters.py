"""Dead letters: a message that fails three deliveries goes to the dead-letter queue, whose function marks its job
failed (so the next write past the threshold queues another) and drops what names no job."""

import json

from agentctx.services.auto_compaction import CompactionParams
from agentctx.wiring import compaction_runner, compaction_service
from infra.local_worker import QueueWorker
from tests.integration.compaction.helpers import (
    compaction_handler,
    fill,
    function_context,
    jobs_of,
    long_note,
    small_agent,
)
from tests.integration.test_sessions_api import append, create_session
from tests.template.conftest import functions, load_handler, sam_template


def test_dead_letter_queue_after_three_failed_deliveries(aws):
    from agentctx.store.queue import sqs_client

    client = sqs_client()
    client.set_queue_attributes(QueueUrl=aws["CompactionQueue"], Attributes={"VisibilityTimeout": "0"})
    client.send_message(QueueUrl=aws["CompactionQueue"], MessageBody="{broken")
    worker = QueueWorker(aws["CompactionQueue"], compaction_handler())

    for _ in range(4):
        worker.poll(wait_seconds=0)

    dead = client.receive_message(QueueUrl=aws["CompactionDeadLetterQueue"])
    assert [message["Body"] for message in dead.get("Messages", [])] == ["{broken"]


def dead_letter_handler():
    return load_handler(functions(sam_template())["CompactionDeadLetterFunction"])


def test_a_dead_lettered_job_is_marked_failed_and_the_next_crossing_write_queues_another(api, aws, monkeypatch):
    from agentctx.store.queue import sqs_client

    session = create_session(api, defaultAgent=small_agent(api))
    written = 0
    while api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["totalTokens"] <= 800:
        append(api, session["id"], long_note(written))
        written += 1
    assert jobs_of(api, session["id"]) == [("auto", "queued")]

    def model_down(model, blocks, limit):
        raise RuntimeError("every delivery dies")

    monkeypatch.setattr(compaction_runner().writer.summariser, "summarise", model_down)
    sqs_client().set_queue_attributes(QueueUrl=aws["CompactionQueue"], Attributes={"VisibilityTimeout": "0"})
    for _ in range(4):
        QueueWorker(aws["CompactionQueue"], compaction_handler()).poll(wait_seconds=0)
    assert jobs_of(api, session["id"]) == [("auto", "running")]
    append(api, session["id"], long_note(written))
    assert len(jobs_of(api, session["id"])) == 1  # the mark still stands: no second job yet

    assert QueueWorker(aws["CompactionDeadLetterQueue"], dead_letter_handler()).poll(wait_seconds=0) == 1

    failed = api.get(f"/v1/aip/sessions/{session['id']}/compactions").json()["data"][0]
    assert failed["status"] == "failed" and failed["error"]["code"] == "dead_lettered" and failed["completedAt"]
    monkeypatch.undo()
    append(api, session["id"], long_note(written + 1))
    assert jobs_of(api, session["id"]) == [("auto", "queued"), ("auto", "failed")]
    QueueWorker(aws["CompactionQueue"], compaction_handler()).poll(wait_seconds=0)
    assert jobs_of(api, session["id"]) == [("auto", "completed"), ("auto", "failed")]


def test_the_dead_letter_handler_answers_a_realistic_event_and_drops_what_names_no_job(api, aws):
    from infra.local_worker import sqs_event

    session, _ = fill(api, 6)
    job = compaction_service().request(api.tenant_id, session["id"], CompactionParams(100))
    finished = compaction_runner().run(api.tenant_id, session["id"][5:], job["orderKey"])
    messages = [
        {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{broken"},
        {
            "MessageId": "m-2",
            "ReceiptHandle": "r-2",
            "Body": json.dumps({"tenantId": api.tenant_id, "sessionHex": session["id"][5:], "jobKey": job["orderKey"]}),
        },
    ]
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:test-compaction-dlq")

    assert dead_letter_handler()(event, function_context()) == {"batchItemFailures": []}

    assert (
        compaction_service().get(api.tenant_id, session["id"], job["id"])["status"] == finished["status"] == "completed"
    )
