"""Compaction through SQS: the seed's call, job records, losslessness, exact metrics, redelivery, a failing batch
item, the lock, appends during a compaction, a second compaction, and automatic compaction."""

import json

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from agentctx.errors import Conflict
from agentctx.services.auto_compaction import CompactionParams
from agentctx.services.compaction_plan import FANOUT
from agentctx.wiring import compaction_runner, compaction_service
from infra.local_worker import QueueWorker
from tests.benchmarks.run import CallCounter
from tests.conftest import OFFLINE_MODEL
from tests.events import DeadlineContext
from tests.integration.test_sessions_api import append, create_session, note
from tests.template.conftest import functions, load_handler, sam_template

SENTENCE = "The team decided to use JWT access tokens with rotating refresh tokens. "


def long_note(i: int, **extra) -> dict:
    return note(f"Note {i}: {SENTENCE * 4}", tags=[f"t{i % 3}"], **extra)


def fill(api, count: int = 20, **extra) -> tuple[dict, list[dict]]:
    session = create_session(api)
    return session, append(api, session["id"], *[long_note(i, **extra) for i in range(count)])


def compaction_handler():
    return load_handler(functions(sam_template())["CompactionFunction"])


def function_context(clock=None) -> DeadlineContext:
    """The context of one invocation of the compaction function, its deadline the template's Timeout away."""
    return DeadlineContext(functions(sam_template())["CompactionFunction"]["Timeout"], clock)


def test_compact_answers_the_seed_fields_and_keeps_everything(api, compaction_worker):
    session, created = fill(api)
    pinned_id = created[3]["id"]
    api.patch(f"/v1/aip/blocks/{pinned_id}", json={"pinned": True})
    before = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["totalTokens"]

    response = api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 600, "preservePinned": True})

    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert result["status"] == "completed" and result["id"].startswith("cmp_")
    assert result["previousTokens"] == before
    assert result["newTokens"] <= 600 and result["targetReached"] is True
    assert result["blocksCompacted"] > 0 and result["summariesCreated"] >= 1
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["metrics"]["totalTokens"] == result["newTokens"]
    assert view["metrics"]["compactionCount"] == 1
    assert view["metrics"]["blockCount"] == 20 - result["blocksCompacted"] + result["summariesCreated"]
    assert pinned_id in view["blocks"] and view["pinnedBlocks"] == [pinned_id]
    assert all(block["id"] in view["blocks"] for block in created[-5:])
    everything = api.get(f"/v1/aip/sessions/{session['id']}/blocks?includeCompacted=true&limit=200").json()["data"]
    compacted = [b for b in everything if b["metadata"].get("compacted")]
    assert len(compacted) == result["blocksCompacted"] and len(everything) == 20 + result["summariesCreated"]
    summary = api.get(f"/v1/aip/blocks/{compacted[0]['metadata']['compactedBy']}").json()["data"]
    assert summary["type"] == "summary" and summary["metadata"]["compactionLevel"] == 1
    covered = summary["metadata"]["summaryOf"]["blockIds"]
    assert compacted[0]["id"] in covered
    assert set(summary["metadata"]["tags"]) == {
        tag for b in compacted if b["id"] in covered for tag in b["metadata"]["tags"]
    }
    assert api.get(f"/v1/aip/blocks/{covered[0]}").json()["data"]["content"].startswith("Note 0")


def test_respond_async_answers_202_with_the_job_and_its_location(api, aws):
    session, _ = fill(api, 8)

    response = api.post(
        f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 100}, headers={"Prefer": "respond-async"}
    )

    assert response.status_code == 202
    job = response.json()["data"]
    assert job["status"] == "queued"
    assert response.headers["Location"] == f"/v1/aip/sessions/{session['id']}/compactions/{job['id']}"
    QueueWorker(aws["CompactionQueue"], compaction_handler()).poll(wait_seconds=0)
    done = api.get(response.headers["Location"]).json()["data"]
    assert done["status"] == "completed" and done["startedAt"] and done["completedAt"]
    listed = api.get(f"/v1/aip/sessions/{session['id']}/compactions").json()["data"]
    assert [j["id"] for j in listed] == [job["id"]]


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


def test_a_session_compacted_twice_gets_summaries_of_summaries(api, compaction_worker):
    session, _ = fill(api, 30)
    first = api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 900, "preserveRecent": 2})
    append(api, session["id"], *[long_note(100 + i) for i in range(5)])

    second = api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 150, "preserveRecent": 1})

    assert first.status_code == second.status_code == 200, second.text
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["metrics"]["compactionCount"] == 2
    levels = [api.get(f"/v1/aip/blocks/{b}").json()["data"]["metadata"]["compactionLevel"] for b in view["blocks"]]
    assert max(levels) == 2
    assert view["metrics"]["totalTokens"] == second.json()["data"]["newTokens"]


def test_unreachable_target_says_why(api, compaction_worker):
    session, _ = fill(api, 4, pinned=True)

    result = api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 10}).json()["data"]

    assert result["targetReached"] is False and "pinned and recent" in result["reason"]
    assert result["blocksCompacted"] == 0


def small_agent(api) -> str:
    """An agent whose model has a 1,000-token window: its sessions auto-compact past 800 tokens, to 400."""
    model = api.post("/v1/models", json={**OFFLINE_MODEL, "context_window": 1_000, "max_output_tokens": 100}).json()
    api.post("/v1/agents", json={"name": "Tiny", "slug": "tiny", "default_model_id": model["id"]})
    return "tiny"


def jobs_of(api, session_id: str) -> list[tuple[str, str]]:
    jobs = api.get(f"/v1/aip/sessions/{session_id}/compactions").json()["data"]
    return [(job["trigger"], job["status"]) for job in jobs]


def test_max_tokens_is_the_window_of_the_session_agents_model(api):
    session = create_session(api, defaultAgent=small_agent(api))

    metrics = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]

    assert metrics["maxTokens"] == 1_000 and metrics["tokensRemainingPct"] == 100
    assert create_session(api, defaultAgent="unknown-agent")["metrics"]["maxTokens"] == 200_000


def test_a_write_past_the_threshold_queues_one_automatic_compaction(api, aws):
    session = create_session(api, defaultAgent=small_agent(api))
    counter = CallCounter()
    written = 0
    with counter.measure() as ordinary:
        append(api, session["id"], long_note(0))
    written += 1
    while api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["totalTokens"] <= 800:
        append(api, session["id"], long_note(written))
        written += 1
    for extra in range(3):
        append(api, session["id"], long_note(100 + extra))

    # the auth lookup is cached: the append is one transaction, plus the request's one usage write (a transaction
    # too, as it moves the tenant's stored tokens)
    assert ordinary["detail"] == "TransactWriteItems 2"
    assert jobs_of(api, session["id"]) == [("auto", "queued")]
    QueueWorker(aws["CompactionQueue"], compaction_handler()).poll(wait_seconds=0)
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert jobs_of(api, session["id"]) == [("auto", "completed")]
    assert view["metrics"]["compactionCount"] == 1 and view["metrics"]["totalTokens"] <= 400
    while api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["totalTokens"] <= 800:
        append(api, session["id"], long_note(written))
        written += 1
    assert jobs_of(api, session["id"]) == [("auto", "queued"), ("auto", "completed")]


def test_an_invocation_that_fills_the_session_queues_an_automatic_compaction(api):
    session = create_session(api, defaultAgent=small_agent(api))
    long_prompt = SENTENCE * 60  # the prompt and answer blocks make about 830 tokens, past 800

    response = api.post("/v1/aip/invoke", json={"agent": "tiny", "prompt": long_prompt, "session": session["id"]})

    assert response.status_code == 200, response.text
    assert jobs_of(api, session["id"]) == [("auto", "queued")]


# ----- at scale: legs cut at the deadline, crashes, the hierarchy, and the dead-letter queue -----


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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


def deliver_until_done(aws, clock: FakeClock, limit: int = 50, left: list[float] | None = None) -> list[dict]:
    """Run the compaction queue the way the event source mapping does, one message per invocation, each with
    its own deadline; the handler's answers, in order (and in `left`, the seconds each invocation had left)."""
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    answers = []
    for _ in range(limit):
        received = sqs_client().receive_message(QueueUrl=aws["CompactionQueue"], WaitTimeSeconds=0).get("Messages")
        if not received:
            return answers
        context = function_context(clock)
        answer = compaction_handler()(sqs_event(received, "arn:aws:sqs:us-east-1:123456789012:q"), context)
        answers.append(answer)
        if left is not None:
            left.append(context.get_remaining_time_in_millis() / 1000)
        if not answer["batchItemFailures"]:
            sqs_client().delete_message(QueueUrl=aws["CompactionQueue"], ReceiptHandle=received[0]["ReceiptHandle"])
    raise AssertionError("the job never finished")


def assert_compacted_once(api, session_id: str, result: dict) -> None:
    """Every block is either active or covered by exactly one summary, and the metrics match the result."""
    everything = []
    cursor = None
    while True:
        query = "includeCompacted=true&limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(f"/v1/aip/sessions/{session_id}/blocks?{query}").json()
        everything += page["data"]
        cursor = page["meta"].get("nextCursor")
        if not cursor:
            break
    summaries = {b["id"]: b for b in everything if b["type"] == "summary"}
    covered = [i for s in summaries.values() for i in s["metadata"]["summaryOf"]["blockIds"]]
    assert len(covered) == len(set(covered)), "a block was summarised twice"
    for block in everything:
        if block["metadata"].get("compacted"):
            assert block["id"] in summaries[block["metadata"]["compactedBy"]]["metadata"]["summaryOf"]["blockIds"]
    view = api.get(f"/v1/aip/sessions/{session_id}").json()["data"]
    active = [b for b in everything if not b["metadata"].get("compacted")]
    assert view["metrics"]["totalTokens"] == result["newTokens"] == sum(b["metadata"]["tokenCount"] for b in active)
    assert view["metrics"]["blockCount"] == len(active)


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


# ----- planning across legs -----


def realistic_session(api, blocks: int) -> tuple[str, str]:
    """Turns of user message, tool call, tool result and note, 150-300 tokens each, written in batches."""
    from tests.benchmarks.compaction_bench import seed_session

    session_id = seed_session(api.tenant_id, blocks)
    return session_id, session_id[5:]


def unhurried_plan(api, session_hex: str, job: dict) -> list[dict]:
    """The plan one uninterrupted pass makes of the session's original blocks (all of them, with content)."""
    from agentctx.services.compaction_plan import plan_compaction, step_record

    store = compaction_service().store
    everything = store.blocks.list_page(
        api.tenant_id, session_hex, limit=10**6, after=None, with_content=True, include_compacted=True
    ).items
    originals = [block for block in everything if block.type.value != "summary"]
    params = CompactionParams(job["targetTokens"], job["preservePinned"], job["preserveRecent"])
    return [step_record(step) for step in plan_compaction(originals, params, seed=job["id"]).steps]


def stored_plan(api, session_hex: str, job: dict) -> list[dict]:
    store = compaction_service().store
    return [
        step
        for chunk in range(job["plan"]["chunks"])
        for step in store.compaction_plans.get_plan_chunk(api.tenant_id, session_hex, job["orderKey"], chunk)
    ]


def scan_pages_left(api, session_hex: str, job: dict) -> list[dict]:
    from agentctx.store.dynamo import dynamodb_client, to_item
    from agentctx.store.keys import SCAN_SK_PREFIX, session_pk

    return dynamodb_client().query(
        TableName=compaction_service().store.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues=to_item(
            {":pk": session_pk(api.tenant_id, session_hex), ":prefix": SCAN_SK_PREFIX + job["orderKey"]}
        ),
    )["Items"]


def test_a_planning_leg_stops_at_its_deadline_and_the_job_plans_as_an_unhurried_one_would(api, aws, monkeypatch):
    from agentctx.services import compaction_planning
    from agentctx.services.compaction_plan import Planner

    monkeypatch.setattr(compaction_planning, "SCAN_PAGE_BLOCKS", 100)
    session_id, session_hex = realistic_session(api, 1_000)  # 10 pages of blocks to read
    service = compaction_service()
    clock = FakeClock()
    pages: list[str | None] = []
    projections = []
    read_page, narrow = service.store.blocks.list_page, Planner.narrow

    def slow_page(*args, **kwargs):
        pages.append(kwargs["after"])
        clock.now += 40.0  # a 150 s invocation, 30 s of margin: three pages a leg
        return read_page(*args, **kwargs)

    def slow_projection(planner, search):
        projections.append(dict(search))
        clock.now += 50.0  # two projections a leg
        narrow(planner, search)

    monkeypatch.setattr(service.store.blocks, "list_page", slow_page)
    monkeypatch.setattr(Planner, "narrow", slow_projection)
    job = service.request(api.tenant_id, session_id, CompactionParams(30_000))
    left: list[float] = []

    answers = deliver_until_done(aws, clock, left=left)

    result = service.get(api.tenant_id, session_id, job["id"])
    assert result["status"] == "completed" and result["targetReached"] is True, result
    assert all(answer == {"batchItemFailures": []} for answer in answers)
    assert len(pages) == 10 and len(set(pages)) == 10  # every page read once, across legs
    assert len(projections) >= 5 and len(answers) >= 4 + (len(projections) - 1) // 2
    assert min(left) > 0  # no leg ran past its deadline
    assert result["plan"]["tiers"] == 2 and "search" not in result
    assert stored_plan(api, session_hex, result) == unhurried_plan(api, session_hex, result)
    assert scan_pages_left(api, session_hex, result) == []
    assert_compacted_once(api, session_id, result)


def test_a_planning_leg_that_crashes_resumes_from_its_checkpoint(api, aws, monkeypatch):
    from agentctx.services import compaction_planning
    from agentctx.services.compaction_plan import Planner
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    monkeypatch.setattr(compaction_planning, "SCAN_PAGE_BLOCKS", 100)
    session_id, session_hex = realistic_session(api, 500)
    service = compaction_service()
    pages: list[str | None] = []
    projections = []
    crashes = {"page": 3, "projection": 2}
    read_page, narrow = service.store.blocks.list_page, Planner.narrow
    store_page = service.store.compaction_plans.put_scan_page

    def counted_page(*args, **kwargs):
        pages.append(kwargs["after"])
        return read_page(*args, **kwargs)

    def page_stored(*args):
        if "page" in crashes and args[3] == crashes["page"] - 1:
            del crashes["page"]
            raise RuntimeError("the function's container died while planning")
        store_page(*args)

    def projection(planner, search):
        projections.append(dict(search))
        if len(projections) == crashes.get("projection"):
            del crashes["projection"]
            raise RuntimeError("the function's container died in the search")
        narrow(planner, search)

    monkeypatch.setattr(service.store.blocks, "list_page", counted_page)
    monkeypatch.setattr(service.store.compaction_plans, "put_scan_page", page_stored)
    monkeypatch.setattr(Planner, "narrow", projection)
    job = service.request(api.tenant_id, session_id, CompactionParams(20_000))
    message = sqs_client().receive_message(QueueUrl=aws["CompactionQueue"])["Messages"][0]
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q")

    for crash in ("page", "projection"):
        with pytest.raises(BatchProcessingError):  # the queue delivers the message again
            compaction_handler()(event, function_context())
        assert crash not in crashes
    assert compaction_handler()(event, function_context()) == {"batchItemFailures": []}

    result = service.get(api.tenant_id, session_id, job["id"])
    assert result["status"] == "completed" and result["targetReached"] is True, result
    assert len(pages) == 5 + 1 and len(set(pages)) == 5  # the page being stored when it died was read again
    assert projections[1] == projections[2]  # the projection that died was done again, the one before was kept
    assert len(set(map(str, projections))) == len(projections) - 1
    assert stored_plan(api, session_hex, result) == unhurried_plan(api, session_hex, result)
    assert scan_pages_left(api, session_hex, result) == []
    assert_compacted_once(api, session_id, result)


def test_a_job_dead_lettered_while_planning_leaves_no_planning_pages(api, aws, monkeypatch):
    from agentctx.services import compaction_planning

    monkeypatch.setattr(compaction_planning, "SCAN_PAGE_BLOCKS", 100)
    session_id, session_hex = realistic_session(api, 300)
    service = compaction_service()
    store_page = service.store.compaction_plans.put_scan_page

    def page_stored_then_died(*args):
        store_page(*args)
        if args[3] == 1:
            raise RuntimeError("the function's container died after storing a page")

    monkeypatch.setattr(service.store.compaction_plans, "put_scan_page", page_stored_then_died)
    job = service.request(api.tenant_id, session_id, CompactionParams(20_000))
    with pytest.raises(RuntimeError):
        compaction_runner().run(api.tenant_id, session_hex, job["orderKey"])
    assert len(scan_pages_left(api, session_hex, job)) == 2  # the second not yet checkpointed

    failed = compaction_runner().fail_dead_lettered(api.tenant_id, session_hex, job["orderKey"])

    assert failed["status"] == "failed" and failed["error"]["code"] == "dead_lettered"
    assert scan_pages_left(api, session_hex, job) == []
