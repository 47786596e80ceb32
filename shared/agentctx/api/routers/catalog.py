"""`/v1/models`, `/v1/agents` and `/v1/harnesses`: a tenant's models and agents and the one built-in harness, in the
snake_case style of seeds 002 and 003 and with the fields the Everruns SDK reads.

Single objects come back bare (as the agent-runtime API returns its Session); lists as
`{"data": [...], "has_more", "next_cursor"}` (with Everruns' `total`, `offset`, `limit`, `next_page_token`);
errors in the service's one error envelope.
"""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Response

from agentctx.api.deps import Tenant
from agentctx.api.list_params import Cursor, Limit, PageToken
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.domain import BUILT_IN_TIMESTAMP, DEFAULT_MODEL_HEX, Agent, Model
from agentctx.errors import NotFound
from agentctx.schemas.catalog import (
    AgentCreate,
    AgentOut,
    AgentUpdate,
    CapabilityRefOut,
    HarnessOut,
    InitialFileOut,
    ModelCostOut,
    ModelCreate,
    ModelOut,
    ModelUpdate,
    SnakeDeleted,
    SnakeList,
)
from agentctx.services.catalog import HARNESS_ID, HARNESS_NAME
from agentctx.wiring import catalog_service

router = APIRouter(responses=ERROR_RESPONSES)

Search = Annotated[str | None, Query(max_length=256, description="Case-insensitive substring")]

HARNESS = HarnessOut(
    id=HARNESS_ID,
    name=HARNESS_NAME,
    display_name="Generic",
    description="The built-in harness: the agent's system prompt, its capabilities and the session's context.",
    created_at=BUILT_IN_TIMESTAMP,
    updated_at=BUILT_IN_TIMESTAMP,
)


def model_out(model: Model) -> ModelOut:
    return ModelOut(
        display_name=model.name,
        model_id=model.provider_model_id,
        provider_id=f"provider_{model.provider.value}",
        provider_name=model.provider.value,
        provider_type=model.provider.value,
        source="predefined" if model.hex == DEFAULT_MODEL_HEX else "manual",
        id=model.id,
        name=model.name,
        provider=model.provider,
        provider_model_id=model.provider_model_id,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        options=model.options,
        cost=ModelCostOut(**asdict(model.cost)) if model.cost else None,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


def agent_out(agent: Agent) -> AgentOut:
    return AgentOut(
        id=agent.id,
        name=agent.slug,
        display_name=agent.name,
        slug=agent.slug,
        tags=agent.tags,
        status="archived" if agent.status == "archived" else "active",
        harness_id=HARNESS_ID,
        initial_files=[InitialFileOut(path=f["path"], content=f["content"]) for f in agent.initial_files],
        description=agent.description,
        system_prompt=agent.system_prompt,
        default_model_id=agent.default_model_id,
        capabilities=[CapabilityRefOut(ref=cap.ref, config=cap.config) for cap in agent.capabilities],
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


@router.post("/v1/models", status_code=201, response_model=ModelOut, tags=["models"])
def create_model(body: ModelCreate, tenant: Tenant) -> ModelOut:
    return model_out(catalog_service().create_model(tenant, body))


@router.get("/v1/models", response_model=SnakeList[ModelOut], tags=["models"])
def list_models(
    tenant: Tenant, limit: Limit = 50, cursor: Cursor = None, page_token: PageToken = None
) -> SnakeList[ModelOut]:
    """The organization's models; the first is its built-in default model."""
    models, next_cursor = catalog_service().list_models(tenant, limit, cursor or page_token)
    return SnakeList(
        data=[model_out(m) for m in models], has_more=next_cursor is not None, next_cursor=next_cursor, limit=limit
    )


@router.get("/v1/models/{model_id}", response_model=ModelOut, tags=["models"])
def get_model(model_id: str, tenant: Tenant) -> ModelOut:
    return model_out(catalog_service().get_model(tenant, model_id))


@router.patch("/v1/models/{model_id}", response_model=ModelOut, tags=["models"])
def update_model(model_id: str, body: ModelUpdate, tenant: Tenant) -> ModelOut:
    return model_out(catalog_service().update_model(tenant, model_id, body))


@router.delete("/v1/models/{model_id}", response_model=SnakeDeleted, tags=["models"])
def delete_model(model_id: str, tenant: Tenant) -> SnakeDeleted:
    catalog_service().delete_model(tenant, model_id)
    return SnakeDeleted(id=model_id, deleted=True)


@router.post("/v1/agents", status_code=201, response_model=AgentOut, tags=["agents"])
def create_agent(body: AgentCreate, tenant: Tenant) -> AgentOut:
    return agent_out(catalog_service().create_agent(tenant, body))


@router.get("/v1/agents", response_model=SnakeList[AgentOut], tags=["agents"])
def list_agents(
    tenant: Tenant,
    limit: Limit = 50,
    cursor: Cursor = None,
    page_token: PageToken = None,
    search: Search = None,
    include_archived: bool = False,
) -> SnakeList[AgentOut]:
    """Active agents (and archived ones with include_archived), oldest first; `search` matches the name, display
    name or description."""
    listed = catalog_service().list_agents(tenant, limit, cursor or page_token, search, include_archived)
    return SnakeList(
        data=[agent_out(a) for a in listed.items],
        has_more=listed.next_cursor is not None,
        next_cursor=listed.next_cursor,
        truncated_by_bytes=listed.truncated_by_bytes,
        limit=limit,
    )


@router.get("/v1/agents/{agent_id}", response_model=AgentOut, tags=["agents"])
def get_agent(agent_id: str, tenant: Tenant) -> AgentOut:
    return agent_out(catalog_service().get_agent(tenant, agent_id))


@router.patch("/v1/agents/{agent_id}", response_model=AgentOut, tags=["agents"])
def update_agent(agent_id: str, body: AgentUpdate, tenant: Tenant) -> AgentOut:
    return agent_out(catalog_service().update_agent(tenant, agent_id, body))


@router.delete("/v1/agents/{agent_id}", status_code=204, response_class=Response, tags=["agents"])
def delete_agent(agent_id: str, tenant: Tenant) -> Response:
    """Deleted (not archived: PATCH `status` archives), answered 204 as Everruns answers."""
    catalog_service().delete_agent(tenant, agent_id)
    return Response(status_code=204)


@router.get("/v1/harnesses", response_model=SnakeList[HarnessOut], tags=["agents"])
def list_harnesses(tenant: Tenant, search: Search = None) -> SnakeList[HarnessOut]:
    """The one built-in harness (Everruns requires a harness on agents and sessions)."""
    needle = (search or "").lower()
    found = [HARNESS] if needle in f"{HARNESS.name}\n{HARNESS.display_name}\n{HARNESS.description}".lower() else []
    return SnakeList(data=found, has_more=False)


@router.get("/v1/harnesses/{harness_id}", response_model=HarnessOut, tags=["agents"])
def get_harness(harness_id: str, tenant: Tenant) -> HarnessOut:
    if harness_id not in (HARNESS_ID, HARNESS_NAME):
        raise NotFound(f"harness {harness_id} not found")
    return HARNESS
