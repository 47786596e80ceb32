"""A session's usage through the SDK's TokenUsage: the prompt cache's reads and writes and, on a priced model, the
estimated cost, summed over its turns."""

import pytest
from everruns_sdk.models import AgentCapabilityConfig

from tests.conftest import OFFLINE_MODEL
from tests.integration.cached_model import CALL_COST_USD, PRICE, cached_model
from tests.integration.everruns_sdk.helpers import run, until_turn_ends


def test_session_usage_reads_cache_tokens_and_cost(stack, monkeypatch):
    cached_model(monkeypatch)
    with stack.http() as http:
        model = http.post("/v1/models", json=OFFLINE_MODEL | {"cost": PRICE}).json()["id"]

    async def scenario() -> None:
        async with stack.client() as client:
            await client.agents.create(
                "clock",
                "You tell the time.",
                default_model_id=model,
                capabilities=[AgentCapabilityConfig(ref="current_time")],
            )
            session = await client.sessions.create(agent_name="clock")
            await client.messages.create(session.id, "what time is it?")
            await until_turn_ends(client, session.id)

            usage = (await client.sessions.get(session.id)).usage
            assert (usage.input_tokens, usage.output_tokens) == (2_000, 100)
            assert (usage.cache_read_tokens, usage.cache_creation_tokens) == (1_600, 200)
            assert usage.estimated_cost_usd == pytest.approx(2 * CALL_COST_USD)

    run(scenario())
