"""`/v1/models` and `/v1/agents`: a tenant's models and agents, in the snake_case style of seeds 002 and 003.

Single objects come back bare (as the agent-runtime API returns its Session); lists as
`{"data": [...], "has_more", "next_cursor"}`; errors in the service's one error envelope.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from agentctx.api.app import ERROR_RESPONSES
from agentctx.api.deps import Tenant
from agentctx.domain import Agent, Model
from agentctx.schemas.catalog import (
    AgentCreate,
    AgentOut,
    AgentUpdate,
    CapabilityRefOut,
    ModelCreate,
    ModelOut,
    ModelUpdate,
    SnakeDeleted,
    SnakeList,
)
from agentctx.wiring import catalog_service

router = APIRouter(responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]


def model_out(model: Model) -> ModelOut:
    return ModelOut(
        id=model.id,
        name=model.name,
        provider=model.provider,
        provider_model_id=model.provider_model_id,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        options=model.options,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


def agent_out(agent: Agent) -> AgentOut:
    return AgentOut(
        id=agent.id,
        name=agent.name,
        slug=agent.slug,
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
def list_models(tenant: Tenant, limit: Limit = 50, cursor: Cursor = None) -> SnakeList[ModelOut]:
    models, next_cursor = catalog_service().list_models(tenant, limit, cursor)
    return SnakeList(data=[model_out(m) for m in models], has_more=next_cursor is not None, next_cursor=next_cursor)


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
def list_agents(tenant: Tenant, limit: Limit = 50, cursor: Cursor = None) -> SnakeList[AgentOut]:
    agents, next_cursor = catalog_service().list_agents(tenant, limit, cursor)
    return SnakeList(data=[agent_out(a) for a in agents], has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/agents/{agent_id}", response_model=AgentOut, tags=["agents"])
def get_agent(agent_id: str, tenant: Tenant) -> AgentOut:
    return agent_out(catalog_service().get_agent(tenant, agent_id))


@router.patch("/v1/agents/{agent_id}", response_model=AgentOut, tags=["agents"])
def update_agent(agent_id: str, body: AgentUpdate, tenant: Tenant) -> AgentOut:
    return agent_out(catalog_service().update_agent(tenant, agent_id, body))


@router.delete("/v1/agents/{agent_id}", response_model=SnakeDeleted, tags=["agents"])
def delete_agent(agent_id: str, tenant: Tenant) -> SnakeDeleted:
    catalog_service().delete_agent(tenant, agent_id)
    return SnakeDeleted(id=agent_id, deleted=True)
