"""An agent's channel (`/v1/channels/{agent}/...`): the agent it names and the sessions it may reach, for the
buffered routes and the streaming function alike (which then needs none of the other runtime routes)."""

from typing import TYPE_CHECKING

from agentctx.domain import Agent
from agentctx.errors import NotFound
from agentctx.wiring import catalog_service, runtime_service

if TYPE_CHECKING:
    from agentctx.services.runtime_sessions import RuntimeView


def channel_agent(tenant: str, agent: str) -> Agent:
    return catalog_service().resolve_agent(tenant, agent)


def channel_session(tenant: str, agent: str, session_id: str) -> "RuntimeView":
    """The session, when it runs the channel's agent; another agent's session is not found here."""
    owner = channel_agent(tenant, agent)
    view = runtime_service().get(tenant, session_id)
    if view.agent_id != owner.id:
        raise NotFound(f"session {session_id} not found")
    return view
