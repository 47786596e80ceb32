"""Compaction jobs at scale, in legs: a job cut at its function's deadline continues in new invocations, a crashed leg
resumes from what it wrote, and many summaries are summarised again so the session keeps a bounded few."""

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from agentctx.services.auto_compaction import CompactionParams
from agentctx.services.compaction_plan import FANOUT
from agentctx.wiring import compaction_runner, compaction_service
from tests.integration.compaction.helpers import (
    FakeClock,
    assert_compacted_once,
    compaction_handler,
    deliver_until_done,
    function_context,
)


def seeded_session(api, blocks: int) -> tuple[str, str]:
    """A session of `blocks` notes written through the store in batches (the API would take a while)."""
    from tests.benchmarks.run import _seed_session

    session_id = _seed_session(api.tenant_id, blocks)
    return session_id, session_id[5:]


def model_taking(monkeypatch, seconds: float, clock: FakeClock, fail_on_call: int | None = None) -> list[int]:
    """The summariser stands for a model that takes `seconds` of the clock a call (and dies on one call)."""
    summariser = compaction_runner().writer.summariser
    extractive = summariser._extractive
    calls: list[int] = []

    def summarise(model, blocks, limit):
        calls.append(len(blocks))
        if fail_on_call is not None and len(calls) == fail_on_call:
            raise RuntimeError("the function's container died")
        clock.now += seconds
        return extractive([b.content for b in blocks], limit), 1

    monkeypatch.setattr(summariser, "summarise", summarise)
    return calls


def test_a_job_cut_at_its_deadline_continues_in_new_invocations_and_finishes(api, aws, monkeypatch):
    session_id, session_hex = seeded_session(api, 600)  # 24 first-tier summaries
    clock = FakeClock()
    calls = model_taking(monkeypatch, 30.0, clock)  # a 150 s invocation has room for about 4 of them
    job = api.post(
        f"/v1/aip/sessions/{session_id}/compact", json={"targetTokens": 2_000}, headers={"Prefer": "respond-async"}
    ).json()["data"]

    answers = deliver_until_done(aws, clock)

    result = compaction_service().get(api.tenant_id, session_id, job["id"])
    assert result["status"] == "completed" and result["targetReached"] is True, result
    assert len(answers) >= 3 and all(a == {"batchItemFailures": []} for a in answers)
    assert result["leg"] == len(answers) - 1
    assert result["modelCalls"] == len(calls) == result["plan"]["steps"]
    assert_compacted_once(api, session_id, result)


def test_a_crashed_leg_is_delivered_again_and_resumes_from_what_was_written(api, aws, monkeypatch):
    session_id, session_hex = seeded_session(api, 300)  # 12 summaries
    clock = FakeClock()
    calls = model_taking(monkeypatch, 1.0, clock, fail_on_call=10)
    service = compaction_service()
    saves = []
    original_save = service.store.compaction_jobs.save_progress

    def checkpoint_lost_after_planning(tenant_id, hex_, job):
        saves.append(job.get("stepsDone"))
        if job.get("stepsDone"):
            raise RuntimeError("the function's container died before its checkpoint")
        original_save(tenant_id, hex_, job)

    monkeypatch.setattr(service.store.compaction_jobs, "save_progress", checkpoint_lost_after_planning)
    job = service.request(api.tenant_id, session_id, CompactionParams(500))
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    message = sqs_client().receive_message(QueueUrl=aws["CompactionQueue"])["Messages"][0]
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q")
    with pytest.raises(BatchProcessingError):  # the only record failed: the invocation fails, the queue redelivers
        compaction_handler()(event, function_context(clock))
    active = service.store.blocks.list_page(
        api.tenant_id, session_hex, limit=1000, after=None, with_content=False
    ).items
    written_before = [block for block in active if block.type.value == "summary"]
    monkeypatch.setattr(service.store.compaction_jobs, "save_progress", original_save)

    resumed = compaction_handler()(event, function_context(clock))

    assert resumed == {"batchItemFailures": []}
    result = service.get(api.tenant_id, session_id, job["id"])
    assert result["status"] == "completed" and 0 < len(written_before) < result["plan"]["steps"]
    # steps written before the crash were recognised, not summarised again; the one that died was redone
    assert len(calls) == result["plan"]["steps"] + 1
    assert_compacted_once(api, session_id, result)


def test_many_summaries_are_summarised_again_and_the_session_keeps_a_bounded_few(api, aws):
    session_id, _ = seeded_session(api, 1_000)
    service = compaction_service()
    job = service.request(api.tenant_id, session_id, CompactionParams(1_000, preserve_recent=5))

    result = compaction_runner().run(api.tenant_id, session_id[5:], job["orderKey"])

    assert result["status"] == "completed" and result["plan"]["tiers"] == 2, result
    view = api.get(f"/v1/aip/sessions/{session_id}").json()["data"]
    summaries = [api.get(f"/v1/aip/blocks/{i}").json()["data"] for i in view["blocks"]]
    summaries = [block for block in summaries if block["type"] == "summary"]
    assert 0 < len(summaries) == result["summariesCreated"] <= FANOUT
    assert {block["metadata"]["compactionLevel"] for block in summaries} == {2}
    first_tier = summaries[0]["metadata"]["summaryOf"]["blockIds"]
    assert api.get(f"/v1/aip/blocks/{first_tier[0]}").json()["data"]["metadata"]["compactedBy"] == summaries[0]["id"]
    assert view["metrics"]["compactionCount"] == 1
    assert_compacted_once(api, session_id, result)
