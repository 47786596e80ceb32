"""A tenant's models and agents: create, read, list, update, delete, and resolving an agent by slug or id.

An agent's `slug` is its handle: Everruns calls it `name` (`[a-z0-9]+(-[a-z0-9]+)*`, up to 64, unique per
organization), the AIP surface `agent`. The stored `name` is the label Everruns calls `display_name`.
"""

import base64
import re
import secrets
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from agentctx import ids, payload
from agentctx.capabilities import CATALOGUE
from agentctx.capabilities.session_file_system import file_path
from agentctx.domain import DEFAULT_MODEL_HEX, Agent, CapabilityRef, Listed, Model, ModelCost, utc_now
from agentctx.errors import Conflict, InvalidRequest, NotFound
from agentctx.pagination import CursorCodec
from agentctx.schemas.catalog import (
    HANDLE_PATTERN,
    AgentCreate,
    AgentUpdate,
    CapabilityRefIn,
    EverrunsFields,
    InitialFileIn,
    ModelCostIn,
    ModelCreate,
    ModelUpdate,
)
from agentctx.store.catalog_store import CatalogStore

# The one harness every agent and session runs in (Everruns requires a harness_id on both).
HARNESS_ID = "harness_" + "0" * 31 + "1"
HARNESS_NAME = "generic"


def check_everruns_fields(request: EverrunsFields) -> None:
    """Refuse (400, naming the field) what the Everruns SDK may send that we cannot honour."""
    if request.tools:
        raise InvalidRequest("tools: client-side tools are not supported; use capabilities (GET /v1/capabilities)")
    if request.parallel_tool_calls:
        raise InvalidRequest("parallel_tool_calls: tools run one at a time here; send false or omit it")
    if request.harness_id is not None and request.harness_id != HARNESS_ID:
        raise InvalidRequest(f"harness_id {request.harness_id!r} is unknown; the one harness is {HARNESS_ID}")
    if request.harness_name is not None and request.harness_name != HARNESS_NAME:
        raise InvalidRequest(f"harness_name {request.harness_name!r} is unknown; the one harness is {HARNESS_NAME!r}")


def with_controls(model: Model, controls: dict[str, Any]) -> Model:
    """The model as one turn runs it under a message's controls: a lower max_tokens, another temperature."""
    max_tokens = min(controls.get("max_tokens") or model.max_output_tokens, model.max_output_tokens)
    options = model.options | ({"temperature": controls["temperature"]} if "temperature" in controls else {})
    return replace(model, max_output_tokens=max_tokens, options=options)


def initial_files(files: list[InitialFileIn], field: str = "initial_files") -> list[dict[str, str]]:
    """Files as text with normalised paths; a bad path, undecodable content or a read-only file is a 400."""
    checked: dict[str, str] = {}
    for index, file in enumerate(files):
        name = f"{field}[{index}]"
        if file.is_readonly:
            raise InvalidRequest(f"{name}.is_readonly: read-only files are not supported; session files are writable")
        try:
            path = file_path(file.path)
        except ValueError as error:
            raise InvalidRequest(f"{name}.path: {error}") from error
        content = file.content
        if file.encoding == "base64":
            try:
                content = base64.b64decode(content, validate=True).decode()
            except ValueError as error:  # not base64 (a non-ASCII character too), or not UTF-8 once decoded
                raise InvalidRequest(f"{name}.content: not base64 of UTF-8 text (session files hold text)") from error
        checked[path] = content
    return [{"path": path, "content": content} for path, content in checked.items()]


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


def _cost(price: ModelCostIn | None) -> ModelCost | None:
    return ModelCost(**price.model_dump()) if price else None


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
            cost=_cost(request.cost),
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
        model = self._stored_model(tenant_id, model_id)
        changes = request.model_dump(exclude_unset=True, exclude_none=True, exclude={"cost"})
        if "cost" in request.model_fields_set:  # null takes the price away
            changes["cost"] = _cost(request.cost)
        updated = replace(model, **changes, updated_at=utc_now())
        if updated.max_output_tokens >= updated.context_window:
            raise InvalidRequest("max_output_tokens must be smaller than context_window")
        self.store.put_model(updated, new=False)
        return updated

    def delete_model(self, tenant_id: str, model_id: str) -> None:
        model = self._stored_model(tenant_id, model_id)
        users = self.store.agents_using_model(tenant_id, model.id)
        if users:
            names = ", ".join(agent.slug for agent in users[:5])
            raise Conflict(f"model {model_id} is the default model of agents: {names}")
        self.store.delete_model(tenant_id, model.hex)

    def _stored_model(self, tenant_id: str, model_id: str) -> Model:
        model = self.get_model(tenant_id, model_id)
        if model.hex == DEFAULT_MODEL_HEX:
            raise InvalidRequest(f"model {model_id} is the organization's built-in default model; it cannot change")
        return model

    # ----- agents -----

    def create_agent(self, tenant_id: str, request: AgentCreate) -> Agent:
        """A new agent; with a client-supplied `id` that already exists, that agent updated (Everruns' apply)."""
        check_everruns_fields(request)
        agent_hex = ids.new_hex()
        if request.id is not None:
            given = ids.parse_prefixed_hex(request.id, ids.AGENT_PREFIX)
            if given is None:
                raise InvalidRequest(f"id {request.id!r} is not an agent id (agent_ followed by 32 hex)")
            agent_hex = given
        model_id = request.default_model_id or ids.MODEL_PREFIX + DEFAULT_MODEL_HEX
        self._require_model(tenant_id, model_id)
        explicit = request.slug or (request.name if re.fullmatch(HANDLE_PATTERN, request.name) else None)
        if explicit is not None and len(explicit) > 64:
            raise InvalidRequest(f"name {explicit!r} is longer than 64 characters")
        now = utc_now()
        agent = Agent(
            tenant_id=tenant_id,
            hex=agent_hex,
            name=request.display_name or request.name,
            slug=explicit or _slug_of(request.name),
            description=request.description,
            system_prompt=request.system_prompt,
            default_model_id=model_id,
            capabilities=validate_capabilities(request.capabilities),
            created_at=now,
            updated_at=now,
            tags=request.tags,
            initial_files=initial_files(request.initial_files),
        )
        if request.id is not None:
            existing = self.store.get_agent(tenant_id, agent_hex)
            if existing is not None:
                agent.created_at = existing.created_at
                self.store.update_agent(agent, previous_slug=existing.slug)
                return agent
        try:
            self.store.create_agent(agent)
        except Conflict:
            if explicit:
                raise Conflict(f"an agent named {explicit!r} already exists") from None
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

    def list_agents(
        self, tenant_id: str, limit: int, cursor: str | None, search: str | None = None, include_archived: bool = True
    ) -> Listed[Agent]:
        """Agents in creation order; `search` matches the handle, label or description (case-insensitive). A page
        the byte budget cut ends the answer there."""
        query = f"agents?search={search or ''}&archived={include_archived}"
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        needle = (search or "").lower()
        agents: list[Agent] = []
        while True:
            page = self.store.list_agents(tenant_id, limit - len(agents), after, payload.RESPONSE_BYTES_BUDGET)
            agents += [
                agent
                for agent in page.items
                if (include_archived or agent.status == "active")
                and (not needle or needle in f"{agent.slug}\n{agent.name}\n{agent.description or ''}".lower())
            ]
            after = page.next_after
            if after is None or len(agents) >= limit or page.truncated_by_bytes:
                break
        next_cursor = self.cursors.encode(tenant_id, query, after) if after else None
        return Listed(agents, next_cursor, page.truncated_by_bytes)

    def update_agent(self, tenant_id: str, agent_id: str, request: AgentUpdate) -> Agent:
        agent = self.get_agent(tenant_id, agent_id)
        changes = request.model_dump(
            exclude_unset=True, exclude_none=True, exclude={"capabilities", "initial_files", "name", "display_name"}
        )
        if "default_model_id" in changes:
            self._require_model(tenant_id, changes["default_model_id"])
        if request.name is not None:  # a handle renames the agent; any other name is its label
            if re.fullmatch(HANDLE_PATTERN, request.name) and len(request.name) <= 64 and request.slug is None:
                changes["slug"] = request.name
            else:
                changes["name"] = request.name
        if request.display_name is not None:
            changes["name"] = request.display_name
        updated = replace(agent, **changes, updated_at=utc_now())
        if request.capabilities is not None:
            updated.capabilities = validate_capabilities(request.capabilities)
        if request.initial_files is not None:
            updated.initial_files = initial_files(request.initial_files)
        self.store.update_agent(updated, previous_slug=agent.slug)
        return updated

    def delete_agent(self, tenant_id: str, agent_id: str) -> None:
        self.store.delete_agent(self.get_agent(tenant_id, agent_id))

    def _require_model(self, tenant_id: str, model_id: str) -> None:
        model_hex = ids.parse_prefixed_hex(model_id, ids.MODEL_PREFIX)
        if model_hex is None or self.store.get_model(tenant_id, model_hex) is None:
            raise InvalidRequest(f"unknown model {model_id!r}")
