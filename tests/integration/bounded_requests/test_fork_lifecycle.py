"""A fork's copy and the purges of a deleted fork and of its deleted source end, in whatever order their jobs run and
the deletes come: everything deleted is purged, a surviving fork holds every block it keeps, no `COPY#` mark
outlives its copy, and the queue drains within a bound (no job re-queues itself for ever)."""

import itertools
import json

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from agentctx import ids
from agentctx.wiring import context_store
from tests.events import LambdaContext
from tests.integration.bounded_requests.helpers import listed_ids, partition_items, seed
from tests.template.conftest import functions, load_handler, sam_template

SOURCE_BLOCKS = 120  # 60 kept: more than the fork request copies itself (48), so a copy job has work left
DRAIN_BOUND = 30  # deliveries after the scripted steps: two purges, a copy, and any continuations

# The steps of one run: C runs the fork's copy job, DF and DS delete the fork and the source, PF and PS run their
# purge jobs (each after its delete). Every order of them.
STEPS = ("C", "DF", "DS", "PF", "PS")
ORDERS = [
    order
    for order in itertools.permutations(STEPS)
    if order.index("DF") < order.index("PF") and order.index("DS") < order.index("PS")
]


def deliver(aws, wanted) -> int:  # type: ignore[no-untyped-def]
    """Deliver the queued session jobs `wanted` picks (its body -> bool) to the function the template names, as SQS
    would; the others stay queued. How many were delivered."""
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    handler = load_handler(functions(sam_template())["SessionJobFunction"])
    queue = aws["SessionJobQueue"]
    messages = sqs_client().receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
    chosen = [message for message in messages.get("Messages", []) if wanted(json.loads(message["Body"]))]
    for message in chosen:
        response = handler(sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:session-jobs"), LambdaContext())
        assert response["batchItemFailures"] == []
        sqs_client().delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return len(chosen)


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(order) for order in ORDERS])
def test_copy_and_purges_end_in_every_order(api, aws, instant_pacing, order):
    source = seed(api, SOURCE_BLOCKS, tag_every=2)
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]})
    assert fork.status_code == 201
    fork_id = fork.json()["data"]["id"]
    fork_hex = ids.parse_session_id(fork_id)
    copying = context_store().sessions.get(api.tenant_id, fork_hex or "")
    assert copying is not None and copying.copy is not None  # its copy job has blocks left to copy

    for step in order:
        if step == "C":
            deliver(aws, lambda job: job["kind"] == "copy")
        elif step in ("DF", "DS"):
            assert api.delete(f"/v1/aip/sessions/{fork_id if step == 'DF' else source.id}").status_code == 200
        else:
            purged = fork_hex if step == "PF" else source.hex
            deliver(aws, lambda job, purged=purged: job["kind"] == "purge" and job["sessionHex"] == purged)
    drained = 0
    while delivered := deliver(aws, lambda job: True):
        drained += delivered
        assert drained <= DRAIN_BOUND, "the session jobs did not end"

    assert partition_items(api.tenant_id, fork_hex) == []
    assert partition_items(api.tenant_id, source.hex) == []


@pytest.mark.parametrize("deleted", ["source", "neither"])
def test_a_surviving_fork_holds_every_block_it_keeps_whatever_the_order(api, aws, instant_pacing, deleted):
    source = seed(api, SOURCE_BLOCKS, tag_every=2)
    fork = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]})
    fork_id = fork.json()["data"]["id"]
    if deleted == "source":
        api.delete(f"/v1/aip/sessions/{source.id}")
        deliver(aws, lambda job: job["kind"] == "purge")  # before the copy: it must wait for it
    while deliver(aws, lambda job: True):
        pass

    assert len(listed_ids(api, fork_id)) == SOURCE_BLOCKS // 2
    copied = context_store().sessions.get(api.tenant_id, ids.parse_session_id(fork_id))
    assert copied is not None and copied.copy is None and copied.block_count == SOURCE_BLOCKS // 2
    assert [sk for sk in partition_items(api.tenant_id, source.hex) if sk.startswith("COPY#")] == []
    if deleted == "source":
        assert partition_items(api.tenant_id, source.hex) == []


def test_a_fork_whose_request_stopped_after_its_commit_is_copied_from_the_stream(api, aws, instant_pacing):
    from agentctx.store.queue import sqs_client
    from infra.local_streams import StreamReader

    reader = StreamReader("test-context")
    source = seed(api, SOURCE_BLOCKS, tag_every=2)
    fork_id = api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]}).json()[
        "data"
    ]["id"]
    sqs_client().purge_queue(QueueUrl=aws["SessionJobQueue"])  # the request's own send never happened

    events = load_handler(functions(sam_template())["EventsFunction"])
    assert events(reader.read(), LambdaContext()) == {"batchItemFailures": []}
    assert (
        deliver(
            aws,
            lambda job: (
                job
                == {
                    "kind": "copy",
                    "tenantId": api.tenant_id,
                    "sessionHex": ids.parse_session_id(fork_id),
                    "sourceHex": source.hex,
                }
            ),
        )
        == 1
    )

    copied = context_store().sessions.get(api.tenant_id, ids.parse_session_id(fork_id))
    assert copied is not None and copied.copy is None and copied.block_count == SOURCE_BLOCKS // 2


def test_a_purge_waiting_for_a_copy_looks_again_a_bounded_number_of_times_then_fails_to_its_dead_letter(api, aws):
    from agentctx.store.queue import sqs_client
    from agentctx.wiring import session_service
    from infra.local_worker import sqs_event

    handler = load_handler(functions(sam_template())["SessionJobFunction"])
    source = seed(api, SOURCE_BLOCKS, tag_every=2)
    api.post(f"/v1/aip/sessions/{source.id}/fork", json={"name": "f", "includeByTag": ["rare"]})
    api.delete(f"/v1/aip/sessions/{source.id}")
    sqs_client().purge_queue(QueueUrl=aws["SessionJobQueue"])  # the fork's copy stalls: its job is lost

    def purge_after(waits: int) -> dict:  # type: ignore[type-arg]
        session_service().queue_purge(api.tenant_id, source.hex, waits=waits)
        (message,) = sqs_client().receive_message(QueueUrl=aws["SessionJobQueue"])["Messages"]
        return handler(sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:session-jobs"), LambdaContext())

    assert purge_after(3) == {"batchItemFailures": []}
    (again,) = sqs_client().receive_message(QueueUrl=aws["SessionJobQueue"])["Messages"]
    assert json.loads(again["Body"])["waits"] == 4  # queued to look again, one wait further on
    sqs_client().delete_message(QueueUrl=aws["SessionJobQueue"], ReceiptHandle=again["ReceiptHandle"])

    with pytest.raises(BatchProcessingError, match="waited 24 times"):
        purge_after(24)  # the invocation fails: SQS delivers the message again, then dead-letters it

    assert sqs_client().receive_message(QueueUrl=aws["SessionJobQueue"]).get("Messages", []) == []
