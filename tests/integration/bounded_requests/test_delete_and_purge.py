"""Delete at one cost at any size, the session purged in the background: paced, resumable after an interruption,
its stored tokens counted out once, its writes refused meanwhile."""

import json

import pytest

from agentctx import ids
from agentctx.store.purge import PurgeOutcome
from tests.events import LambdaContext
from tests.integration.bounded_requests.helpers import calls_of, partition_items, run_session_jobs, seed
from tests.integration.test_sessions_api import append, create_session, note
from tests.template.conftest import functions, load_handler, sam_template


def stored_tokens(api) -> int:  # type: ignore[no-untyped-def]
    return api.get("/v1/usage?period=day").json()["data"]["storedTokens"]


def test_delete_costs_the_same_at_any_size_and_the_purge_finishes_in_the_background(api, aws):
    small, large = seed(api, 10, pinned_every=2, tag_every=3), seed(api, 150, pinned_every=2, tag_every=3)

    on_small = calls_of(lambda: api.delete(f"/v1/aip/sessions/{small.id}"))
    on_large = calls_of(lambda: api.delete(f"/v1/aip/sessions/{large.id}"))

    assert on_small["detail"] == on_large["detail"]
    assert on_large["response"].json()["data"] == {"deleted": True}
    assert api.get(f"/v1/aip/sessions/{large.id}").status_code == 404
    first_block = ids.block_id(large.hex, partition_items(api.tenant_id, large.hex)[0][2:])
    assert api.get(f"/v1/aip/blocks/{first_block}").status_code == 404  # gone for readers before the purge
    assert len(partition_items(api.tenant_id, large.hex)) > 150

    assert run_session_jobs(aws) >= 2  # one purge each (and its continuation, if one invocation was not enough)
    assert partition_items(api.tenant_id, large.hex) == partition_items(api.tenant_id, small.hex) == []


def test_purge_counts_out_stored_tokens_once(api, aws):
    session = create_session(api)
    append(api, session["id"], note("something to store"), note("and more", tags=["x"], pinned=True))
    assert stored_tokens(api) > 0

    api.delete(f"/v1/aip/sessions/{session['id']}")
    run_session_jobs(aws)
    hex_ = ids.parse_session_id(session["id"])
    from agentctx.wiring import session_service

    assert session_service().purge(api.tenant_id, hex_, 5) is PurgeOutcome.DONE  # a duplicate delivery: nothing more

    assert stored_tokens(api) == 0


def test_an_interrupted_purge_resumes_and_a_retried_delete_queues_it_again(api, aws, instant_pacing):
    from agentctx.store.queue import sqs_client
    from agentctx.wiring import context_store as store

    session = seed(api, 60, tag_every=2)
    api.delete(f"/v1/aip/sessions/{session.id}")
    sqs_client().purge_queue(QueueUrl=aws["SessionJobQueue"])  # the purge job was lost
    before = len(partition_items(api.tenant_id, session.hex))

    assert store().purge.run(api.tenant_id, session.hex, 5, write_units_per_second=10) == (PurgeOutcome.MORE, 0)
    # paced: at 10 units a second a call of 25 deletes takes 2.5 s, so two calls fit in 5 s, not the 120 items
    assert len(partition_items(api.tenant_id, session.hex)) == before - 50

    again = api.delete(f"/v1/aip/sessions/{session.id}")

    assert again.status_code == 404  # the session is gone; its retry still finishes the purge
    assert run_session_jobs(aws) >= 1
    assert partition_items(api.tenant_id, session.hex) == []
    assert api.delete(f"/v1/aip/sessions/{session.id}").status_code == 404
    assert run_session_jobs(aws) == 0  # nothing left to purge, nothing queued


def test_writes_to_a_deleted_session_fail_while_its_purge_is_pending(api, aws):
    session = create_session(api)
    (block,) = append(api, session["id"], note("x"))
    api.delete(f"/v1/aip/sessions/{session['id']}")

    assert api.post(f"/v1/aip/sessions/{session['id']}/blocks", json={"blocks": [note("late")]}).status_code == 404
    assert api.patch(f"/v1/aip/blocks/{block['id']}", json={"pinned": True}).status_code == 404
    assert api.get(f"/v1/aip/sessions/{session['id']}/blocks").status_code == 404


@pytest.mark.parametrize("message", [{"kind": "purge", "tenantId": "org_x", "sessionHex": "a" * 32}])
def test_a_purge_of_a_session_that_was_never_deleted_does_nothing(api, aws, message):
    session = create_session(api)
    append(api, session["id"], note("keep"))
    handler = load_handler(functions(sam_template())["SessionJobFunction"])
    body = json.dumps(message | {"tenantId": api.tenant_id, "sessionHex": ids.parse_session_id(session["id"])})
    event = {
        "Records": [{"messageId": "m1", "receiptHandle": "r", "body": body, "attributes": {}, "eventSource": "aws:sqs"}]
    }

    assert handler(event, LambdaContext())["batchItemFailures"] == []
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["blockCount"] == 1
