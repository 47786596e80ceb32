"""A tenant's models and agents: create, read, list, update, delete, and resolving an agent by slug or id."""

import re
import secrets
from dataclasses import replace

from pydantic import ValidationError

from agentctx import ids
from agentctx.capabilities import CATALOGUE
from agentctx.domain import Agent, CapabilityRef, Model, utc_now
from agentctx.errors import Conflict, InvalidRequest, NotFound
from agentctx.pagination import CursorCodec
from agentctx.schemas.catalog import AgentCreate, AgentUpdate, CapabilityRefIn, ModelCreate, ModelUpdate
from agentctx.store.catalog_store import CatalogStore


def validate_capabilities(refs: list[CapabilityRefIn]) -> list[CapabilityRef]:
    """Known refs with configs that fit their schema, defaults filled in; an unknown ref is a 400 naming it."""
    validated = []
    for ref in refs:
        capability = CATALOGUE.get(ref.ref)
        if capability is None:
            raise InvalidRequest(f"unknown capability {ref.ref!r}; known: {', '.join(sorted(CATALOGUE))}")
        try:
            config = capability.validate_config(ref.config)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise InvalidRequest(f"invalid config for capability {ref.ref!r}: {problems}") from error
        validated.append(CapabilityRef(ref.ref, config))
    return validated


def _slug_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-") or "agent"


class CatalogService:
    def __init__(self, store: CatalogStore, cursors: CursorCodec) -> None:
        self.store = store
        self.cursors = cursors

    # ----- models -----

    def create_model(self, tenant_id: str, request: ModelCreate) -> Model:
        now = utc_now()
        model = Model(
            tenant_id=tenant_id,
            hex=ids.new_hex(),
            name=request.name,
            provider=request.provider,
            provider_model_id=request.provider_model_id,
            context_window=request.context_window,
            max_output_tokens=request.max_output_tokens,
            options=request.options,
            created_at=now,
            updated_at=now,
        )
        self.store.put_model(model, new=True)
        return model

    def resolve_model(self, tenant_id: str, reference: str) -> Model:
        """A model named by its id, its name or its provider model id (the agent-runtime guide writes
        `"model_id": "gpt-4o"`); an unknown one is a 400 naming it."""
        model_hex = ids.parse_prefixed_hex(reference, ids.MODEL_PREFIX)
        if model_hex:
            model = self.store.get_model(tenant_id, model_hex)
            if model:
                return model
        else:
            after = None
            while True:
                page = self.store.list_models(tenant_id, 100, after)
                for model in page.items:
                    if reference in (model.name, model.provider_model_id):
                        return model
                if page.next_after is None:
                    break
                after = page.next_after
        raise InvalidRequest(f"unknown model_id {reference!r}")

    def get_model(self, tenant_id: str, model_id: str) -> Model:
        model_hex = ids.parse_prefixed_hex(model_id, ids.MODEL_PREFIX)
        model = self.store.get_model(tenant_id, model_hex) if model_hex else None
        if model is None:
            raise NotFound(f"model {model_id} not found")
        return model

    def list_models(self, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[Model], str | None]:
        after = self.cursors.decode(tenant_id, "models", cursor) if cursor else None
        page = self.store.list_models(tenant_id, limit, after)
        return page.items, self.cursors.encode(tenant_id, "models", page.next_after) if page.next_after else None

    def update_model(self, tenant_id: str, model_id: str, request: ModelUpdate) -> Model:
        model = self.get_model(tenant_id, model_id)
        changes = request.model_dump(exclude_unset=True, exclude_none=True)
        updated = replace(model, **changes, updated_at=utc_now())
        if updated.max_output_tokens >= updated.context_window:
            raise InvalidRequest("max_output_tokens must be smaller than context_window")
        self.store.put_model(updated, new=False)
        return updated

    def delete_model(self, tenant_id: str, model_id: str) -> None:
        model = self.get_model(tenant_id, model_id)
        users = self.store.agents_using_model(tenant_id, model.id)
        if users:
            names = ", ".join(agent.slug for agent in users[:5])
            raise Conflict(f"model {model_id} is the default model of agents: {names}")
        self.store.delete_model(tenant_id, model.hex)

    # ----- agents -----

    def create_agent(self, tenant_id: str, request: AgentCreate) -> Agent:
        self._require_model(tenant_id, request.default_model_id)
        now = utc_now()
        agent = Agent(
            tenant_id=tenant_id,
            hex=ids.new_hex(),
            name=request.name,
            slug=request.slug or _slug_of(request.name),
            description=request.description,
            system_prompt=request.system_prompt,
            default_model_id=request.default_model_id,
            capabilities=validate_capabilities(request.capabilities),
            created_at=now,
            updated_at=now,
        )
        try:
            self.store.create_agent(agent)
        except Conflict:
            if request.slug:
                raise
            agent.slug = f"{agent.slug[:55]}-{secrets.token_hex(4)}"  # a derived slug that is taken gets a suffix
            self.store.create_agent(agent)
        return agent

    def get_agent(self, tenant_id: str, agent_id: str) -> Agent:
        agent_hex = ids.parse_prefixed_hex(agent_id, ids.AGENT_PREFIX)
        agent = self.store.get_agent(tenant_id, agent_hex) if agent_hex else None
        if agent is None:
            raise NotFound(f"agent {agent_id} not found")
        return agent

    def resolve_agent(self, tenant_id: str, slug_or_id: str) -> Agent:
        """An agent named by its slug (as AIP invocations do) or by its id."""
        if slug_or_id.startswith(ids.AGENT_PREFIX) and ids.parse_prefixed_hex(slug_or_id, ids.AGENT_PREFIX):
            return self.get_agent(tenant_id, slug_or_id)
        agent_hex = self.store.agent_hex_for_slug(tenant_id, slug_or_id)
        agent = self.store.get_agent(tenant_id, agent_hex) if agent_hex else None
        if agent is None:
            raise NotFound(f"agent {slug_or_id} not found")
        return agent

    def list_agents(self, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[Agent], str | None]:
        after = self.cursors.decode(tenant_id, "agents", cursor) if cursor else None
        page = self.store.list_agents(tenant_id, limit, after)
        return page.items, self.cursors.encode(tenant_id, "agents", page.next_after) if page.next_after else None

    def update_agent(self, tenant_id: str, agent_id: str, request: AgentUpdate) -> Agent:
        agent = self.get_agent(tenant_id, agent_id)
        changes = request.model_dump(exclude_unset=True, exclude_none=True, exclude={"capabilities"})
        if "default_model_id" in changes:
            self._require_model(tenant_id, changes["default_model_id"])
        updated = replace(agent, **changes, updated_at=utc_now())
        if request.capabilities is not None:
            updated.capabilities = validate_capabilities(request.capabilities)
        self.store.update_agent(updated, previous_slug=agent.slug)
        return updated

    def delete_agent(self, tenant_id: str, agent_id: str) -> None:
        self.store.delete_agent(self.get_agent(tenant_id, agent_id))

    def _require_model(self, tenant_id: str, model_id: str) -> None:
        model_hex = ids.parse_prefixed_hex(model_id, ids.MODEL_PREFIX)
        if model_hex is None or self.store.get_model(tenant_id, model_hex) is None:
            raise InvalidRequest(f"unknown model {model_id!r}")
