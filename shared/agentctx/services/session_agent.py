"""What a session runs with: its agent (a runtime session's own, else the AIP default agent) and its capabilities,
the agent's with the session's over them. Read alike by the runtime views, by posting a message and by a turn."""

from typing import Any

from agentctx.capabilities import CATALOGUE
from agentctx.domain import Agent, CapabilityRef, Session
from agentctx.errors import NotFound
from agentctx.services.catalog import CatalogService


def agent_of(catalog: CatalogService, session: Session, cache: dict[str, Agent | None]) -> Agent | None:
    """The session's agent, or None when it is gone; `cache` keeps what was resolved for the next session."""
    reference = session.runtime.agent_id if session.runtime else session.default_agent
    if reference is None:
        return None
    if reference not in cache:
        try:
            cache[reference] = catalog.resolve_agent(session.tenant_id, reference)
        except NotFound:
            cache[reference] = None
    return cache[reference]


def merge_capabilities(agent: Agent | None, session: list[CapabilityRef]) -> list[CapabilityRef]:
    """The agent's capabilities first, then the session's; a ref both name keeps the agent's place and takes the
    session's config over the agent's, key by key, for this session only. Configs are validated with defaults."""
    merged: dict[str, dict[str, Any]] = {cap.ref: dict(cap.config) for cap in (agent.capabilities if agent else [])}
    for cap in session:
        merged[cap.ref] = {**merged.get(cap.ref, {}), **cap.config}
    return [CapabilityRef(ref, CATALOGUE[ref].validate_config(config)) for ref, config in merged.items()]


def features_of(capabilities: list[CapabilityRef]) -> list[str]:
    return list(dict.fromkeys(feature for cap in capabilities for feature in CATALOGUE[cap.ref].features))
