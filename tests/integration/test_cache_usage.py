"""Prompt-cache tokens and cost: a model's price on the catalog API, and the cache reads and writes (parts of the
input) with the cost of a priced model in an invocation's answer, its stream, its record and the tenant's usage."""

import pytest

from tests.conftest import OFFLINE_MODEL
from tests.integration.cached_model import CALL_COST_USD, PRICE, cached_model
from tests.integration.test_invoke_api import parse_sse
from tests.integration.test_sessions_api import create_session

# two model calls: the tool call, then the answer
TWO_CALLS = {"inputTokens": 2_000, "cacheReadInputTokens": 1_600, "cacheWriteInputTokens": 200, "outputTokens": 100}


@pytest.fixture(autouse=True)
def _cached(monkeypatch):  # type: ignore[no-untyped-def]
    cached_model(monkeypatch)


def agent_on(api, **model_fields) -> str:  # type: ignore[no-untyped-def]
    model = api.post("/v1/models", json=OFFLINE_MODEL | model_fields)
    assert model.status_code == 201, model.text
    body = {"name": "Clock", "slug": "clock", "default_model_id": model.json()["id"]}
    agent = api.post("/v1/agents", json=body | {"capabilities": [{"ref": "current_time"}]})
    assert agent.status_code == 201, agent.text
    return "clock"


def test_invocation_of_a_priced_model_reports_cache_tokens_and_cost_everywhere(api):
    session = create_session(api)
    agent = agent_on(api, cost=PRICE)

    invoked = api.post("/v1/aip/invoke", json={"agent": agent, "prompt": "time?", "session": session["id"]})

    assert invoked.status_code == 200, invoked.text
    usage = invoked.json()["data"]["usage"]
    assert usage == {"contextTokens": 0, **TWO_CALLS, "costUsd": pytest.approx(2 * CALL_COST_USD)}
    invocation_id = invoked.json()["data"]["id"]
    record = api.get(f"/v1/aip/sessions/{session['id']}/invocations/{invocation_id}").json()["data"]
    assert record["usage"] == usage
    day = api.get("/v1/usage").json()["data"]
    assert (day["inputTokens"], day["cacheReadTokens"], day["cacheWriteTokens"]) == (2_000, 1_600, 200)
    assert day["costUsd"] == pytest.approx(2 * CALL_COST_USD)


def test_streamed_invocation_ends_with_the_cache_tokens_and_cost(api):
    agent = agent_on(api, cost=PRICE)

    response = api.post("/v1/aip/invoke", json={"agent": agent, "prompt": "time?", "stream": True})

    events = parse_sse(response.text)
    assert events[-1][0] == "complete"
    assert events[-1][1]["usage"] == {"contextTokens": 0, **TWO_CALLS, "costUsd": pytest.approx(2 * CALL_COST_USD)}
    assert [name for name, _ in events].count("text_delta") == 1  # the stream shows what it showed before, no more


def test_model_without_a_price_reports_cache_tokens_and_no_cost(api):
    agent = agent_on(api)

    usage = api.post("/v1/aip/invoke", json={"agent": agent, "prompt": "time?"}).json()["data"]["usage"]

    assert usage == {"contextTokens": 0, **TWO_CALLS, "costUsd": None}
    day = api.get("/v1/usage").json()["data"]
    assert (day["cacheReadTokens"], day["costUsd"]) == (1_600, 0)


def test_a_price_is_answered_changed_and_removed(api):
    created = api.post("/v1/models", json=OFFLINE_MODEL | {"cost": {"input": 3, "output": 15}}).json()
    assert created["cost"] == {"input": 3.0, "output": 15.0, "cache_read": None, "cache_write": None}

    changed = api.patch(f"/v1/models/{created['id']}", json={"cost": PRICE}).json()
    assert changed["cost"] == PRICE and api.get(f"/v1/models/{created['id']}").json()["cost"] == PRICE

    removed = api.patch(f"/v1/models/{created['id']}", json={"cost": None}).json()
    assert removed["cost"] is None and api.get(f"/v1/models/{created['id']}").json()["cost"] is None


@pytest.mark.parametrize(
    ("cost", "field"),
    [
        ({"input": -1, "output": 15}, "body.cost.input"),
        ({"input": 3, "output": "a lot"}, "body.cost.output"),
        ({"input": 3, "output": 15, "cache_read": -0.1}, "body.cost.cache_read"),
        ({"output": 15}, "body.cost.input"),
    ],
)
def test_a_bad_price_is_refused_naming_the_field(api, cost, field):
    created = api.post("/v1/models", json=OFFLINE_MODEL | {"cost": cost})
    model = api.post("/v1/models", json=OFFLINE_MODEL).json()
    changed = api.patch(f"/v1/models/{model['id']}", json={"cost": cost})

    for refused in (created, changed):
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "validation_error" and field in [d["location"] for d in error["details"]]
    assert api.get(f"/v1/models/{model['id']}").json()["cost"] is None
