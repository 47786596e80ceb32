"""A turn's tokens with the prompt cache's reads and writes and, on a priced model, its cost: an `llm.generation`
event per model call, the sums on `turn.completed`, and the session's usage adding up its turns."""

import pytest

from tests.conftest import OFFLINE_MODEL
from tests.integration.cached_model import CALL_COST_USD, PRICE, cached_model
from tests.integration.turns.helpers import events_of, say

CALL = {"input_tokens": 1_000, "output_tokens": 50, "cache_read_tokens": 800, "cache_creation_tokens": 100}


def clock_session(api, **model_fields) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    model = api.post("/v1/models", json=OFFLINE_MODEL | model_fields).json()["id"]
    body = {"name": "Clock", "default_model_id": model, "capabilities": [{"ref": "current_time"}]}
    agent = api.post("/v1/agents", json=body).json()
    return api.post("/v1/sessions", json={"agent_id": agent["id"]}).json()["id"], model


def test_each_model_call_and_the_turn_report_cache_tokens_and_cost(api, run_turns, monkeypatch):
    cached_model(monkeypatch)
    session, model = clock_session(api, cost=PRICE)

    api.post(f"/v1/sessions/{session}/messages", json=say("what time is it?"))
    run_turns()

    events = events_of(api, session)
    generations = [e["data"] for e in events if e["type"] == "llm.generation"]
    turn_id = events[-1]["data"]["turn_id"]
    assert (
        generations
        == [{"turn_id": turn_id, "model_id": model, "usage": CALL | {"estimated_cost_usd": CALL_COST_USD}}] * 2
    )
    types = [e["type"] for e in events]
    assert types.index("llm.generation") < types.index("tool.started")  # the call that asked for the tool
    completed = next(e for e in events if e["type"] == "turn.completed")["data"]["usage"]
    assert completed == {
        "context_tokens": 0,
        "input_tokens": 2_000,
        "output_tokens": 100,
        "cache_read_tokens": 1_600,
        "cache_creation_tokens": 200,
        "estimated_cost_usd": pytest.approx(2 * CALL_COST_USD),
    }

    api.post(f"/v1/sessions/{session}/messages", json=say("and now?"))
    run_turns()

    usage = api.get(f"/v1/sessions/{session}").json()["usage"]
    assert usage == {
        "input_tokens": 4_000,
        "output_tokens": 200,
        "total_tokens": 4_200,
        "cache_read_tokens": 3_200,
        "cache_creation_tokens": 400,
        "estimated_cost_usd": pytest.approx(4 * CALL_COST_USD),
    }
    day = api.get("/v1/usage").json()["data"]
    assert (day["cacheReadTokens"], day["cacheWriteTokens"]) == (3_200, 400)
    assert day["costUsd"] == pytest.approx(4 * CALL_COST_USD)


def test_a_turn_on_a_model_without_a_price_has_no_cost(api, run_turns, monkeypatch):
    cached_model(monkeypatch)
    session, _ = clock_session(api)

    api.post(f"/v1/sessions/{session}/messages", json=say("what time is it?"))
    run_turns()

    events = events_of(api, session)
    assert all(e["data"]["usage"]["estimated_cost_usd"] is None for e in events if e["type"] == "llm.generation")
    assert next(e for e in events if e["type"] == "turn.completed")["data"]["usage"]["estimated_cost_usd"] is None
    usage = api.get(f"/v1/sessions/{session}").json()["usage"]
    assert (usage["cache_read_tokens"], usage["estimated_cost_usd"]) == (1_600, None)
