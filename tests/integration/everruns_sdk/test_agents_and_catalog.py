"""The SDK's keys and catalog: the ways a key authenticates; harnesses, models, agents and capabilities."""

import httpx
import pytest
from everruns_sdk import Everruns, generate_agent_id
from everruns_sdk.errors import ApiError, AuthenticationError, NotFoundError
from everruns_sdk.models import AgentCapabilityConfig

from tests.integration.everruns_sdk.helpers import DEFAULT_MODEL_ID, HARNESS_ID, run


def test_bare_key_bearer_and_x_api_key_all_authenticate(stack):
    async def scenario() -> None:
        async with stack.client() as client:  # sends `Authorization: <key>`, no scheme
            assert [h.id for h in await client.harnesses.list()] == [HARNESS_ID]
        async with Everruns(api_key="ctx_wrong", base_url=stack.base_url) as wrong:
            with pytest.raises(AuthenticationError):
                await wrong.agents.list()

    run(scenario())
    for headers in ({"Authorization": f"Bearer {stack.key}"}, {"X-API-Key": stack.key}):
        assert httpx.get(f"{stack.base_url}/v1/harnesses", headers=headers).status_code == 200


def test_agents_harnesses_models_and_capabilities(stack):
    async def scenario() -> None:
        async with stack.client() as client:
            harnesses = await client.harnesses.list()
            assert [(h.id, h.name, h.status) for h in harnesses] == [(HARNESS_ID, "generic", "active")]
            assert [h.id for h in await client.harnesses.search("generic")] == [HARNESS_ID]
            assert await client.harnesses.search("deep-research") == []
            assert (await client.harnesses.get(HARNESS_ID)).is_built_in

            models = await client.models.list()
            default = models[0]
            assert (default.id, default.source, default.provider_type, default.enabled) == (
                DEFAULT_MODEL_ID,
                "predefined",
                "offline",
                True,
            )
            assert (await client.models.get(DEFAULT_MODEL_ID)).model_id == "offline-1"

            agent = await client.agents.create(
                "support-bot",
                "You answer support questions.",
                display_name="Support bot",
                description="Answers tickets",
                tags=["support", "tier-1"],
                capabilities=[AgentCapabilityConfig(ref="current_time")],
            )
            assert (agent.name, agent.display_name, agent.status, agent.harness_id) == (
                "support-bot",
                "Support bot",
                "active",
                HARNESS_ID,
            )
            assert agent.default_model_id == DEFAULT_MODEL_ID and agent.tags == ["support", "tier-1"]
            assert agent.capabilities[0].ref == "current_time"
            assert (await client.agents.get(agent.id)).description == "Answers tickets"

            with pytest.raises(ApiError) as taken:  # names are unique per organization
                await client.agents.create("support-bot", "again")
            assert taken.value.status_code == 409

            chosen = generate_agent_id()
            applied = await client.agents.apply(chosen, "triage", "Sort tickets.", harness_name="generic")
            assert applied.id == chosen
            reapplied = await client.agents.apply(chosen, "triage", "Sort tickets faster.", tags=["v2"])
            assert (reapplied.id, reapplied.system_prompt, reapplied.tags) == (chosen, "Sort tickets faster.", ["v2"])
            assert reapplied.created_at == applied.created_at
            by_name = await client.agents.apply_by_name("escalation", "Escalate.", harness_id=HARNESS_ID)
            assert by_name.name == "escalation"

            listed = await client.agents.list()
            assert sorted(a.name for a in listed) == ["escalation", "support-bot", "triage"]
            assert [a.name for a in await client.agents.list(search="ticket")] == ["support-bot"]

            with pytest.raises(ApiError) as unknown_harness:
                await client.agents.create("other", "x", harness_name="deep-research")
            assert unknown_harness.value.status_code == 400 and "harness_name" in unknown_harness.value.message

            await client.agents.delete(by_name.id)
            with pytest.raises(NotFoundError):
                await client.agents.get(by_name.id)

            capabilities = await client.capabilities.list()
            assert [c.id for c in capabilities] == [
                "current_time",
                "web_fetch",
                "session_file_system",
                "session_recall",
            ]
            files = await client.capabilities.get("session_file_system")
            assert (files.status, files.category, files.features) == ("available", "file_system", ["file_system"])
            assert {t["name"] for t in files.tool_definitions} >= {"read_file", "write_file"}
            assert all("parameters" in t for t in files.tool_definitions)
            assert [c.id for c in await client.capabilities.list(search="web page")] == ["web_fetch"]
            page = await client.capabilities.list_page(offset=1, limit=1)
            assert (page.total, page.offset, page.limit, len(page.data)) == (4, 1, 1, 1)
            with pytest.raises(NotFoundError):
                await client.capabilities.get("guardrails")

    run(scenario())
