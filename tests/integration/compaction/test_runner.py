"""The compaction function on its queue: a redelivered message changes nothing, a failing batch item is reported
alone, the session's lock keeps two compactions apart, and blocks appended during a compaction are kept as written."""

import pytest

from agentctx.errors import Conflict
from agentctx.services.auto_compaction import CompactionParams
from agentctx.wiring import compaction_runner, compaction_service
from infra.local_worker import QueueWorker
from tests.integration.compaction.helpers import compaction_handler, fill, function_context
from tests.integration.test_sessions_api import append, note


def test_redelivered_message_changes_nothing(api, aws):
    session, _ = fill(api, 10)
    api.post(
        f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 200}, headers={"Prefer": "respond-async"}
    )
    worker = QueueWorker(aws["CompactionQueue"], compaction_handler())
    from agentctx.store.queue import sqs_client

    message = sqs_client().receive_message(QueueUrl=aws["CompactionQueue"])["Messages"][0]
    from infra.local_worker import sqs_event

    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:test-compaction")
    assert compaction_handler()(event, function_context()) == {"batchItemFailures": []}
    after_first = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]

    assert compaction_handler()(event, function_context()) == {"batchItemFailures": []}

    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"] == after_first
    assert after_first["metrics"]["compactionCount"] == 1
    del worker


def test_a_failing_item_is_reported_alone(api, aws):
    session, _ = fill(api, 10)
    api.post(
        f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 200}, headers={"Prefer": "respond-async"}
    )
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    good = sqs_client().receive_message(QueueUrl=aws["CompactionQueue"])["Messages"][0]
    bad = {"MessageId": "bad-1", "ReceiptHandle": "r", "Body": "{not json"}

    response = compaction_handler()(sqs_event([good, bad], "arn:aws:sqs:us-east-1:123456789012:q"), function_context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["compactionCount"] == 1


def test_two_compactions_of_one_session_never_run_at_once(api, aws):
    session, _ = fill(api, 6)
    service = compaction_service()
    first = service.request(api.tenant_id, session["id"], CompactionParams(100))
    second = service.request(api.tenant_id, session["id"], CompactionParams(100))
    session_hex = session["id"][5:]
    service.store.compaction_jobs.claim(api.tenant_id, session_hex, first["id"], now_epoch=1_000, hold_seconds=10**10)

    with pytest.raises(Conflict):
        compaction_runner().run(api.tenant_id, session_hex, second["orderKey"])

    assert service.store.records.get_job(api.tenant_id, session_hex, second["orderKey"])["status"] == "queued"
    service.store.compaction_jobs.release(api.tenant_id, session_hex, first["id"])
    assert compaction_runner().run(api.tenant_id, session_hex, second["orderKey"])["status"] == "completed"


def test_blocks_appended_during_a_compaction_are_kept_and_never_summarised(api, aws, monkeypatch):
    session, _ = fill(api, 10)
    service, summariser = compaction_service(), compaction_runner().writer.summariser
    appended: list[dict] = []
    original = summariser.summarise

    def summarise_while_a_client_appends(model, blocks, limit):
        if not appended:
            appended.extend(append(api, session["id"], note("written mid-compaction")))
        return original(model, blocks, limit)

    monkeypatch.setattr(summariser, "summarise", summarise_while_a_client_appends)
    job = service.request(api.tenant_id, session["id"], CompactionParams(0, preserve_recent=0))
    result = compaction_runner().run(api.tenant_id, session["id"][5:], job["orderKey"])

    late = api.get(f"/v1/aip/blocks/{appended[0]['id']}").json()["data"]
    assert "compacted" not in late["metadata"]
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert appended[0]["id"] in view["blocks"]
    assert view["metrics"]["totalTokens"] == result["newTokens"] + appended[0]["metadata"]["tokenCount"]
