"""Automatic compaction: a session's window is its agent's model's, and a write (an append, an invocation) that takes
the session past 80 % of it queues one compaction job."""

from infra.local_worker import QueueWorker
from tests.dynamo_calls import CallCounter
from tests.integration.compaction.helpers import SENTENCE, compaction_handler, jobs_of, long_note, small_agent
from tests.integration.test_sessions_api import append, create_session


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
