"""Planning across legs: reading the session's blocks and searching how many to take stop at the function's deadline
and resume, after a crash too, to the plan an unhurried pass makes; a job dead-lettered while planning leaves no
planning pages."""

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from agentctx.services.auto_compaction import CompactionParams
from agentctx.wiring import compaction_runner, compaction_service
from tests.integration.compaction.helpers import (
    FakeClock,
    assert_compacted_once,
    compaction_handler,
    deliver_until_done,
    function_context,
)


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
