"""One agent's routes, `/v1/channels/{agent}/...`: the Everruns SDK's AgentClient pointed at
`{base}/v1/channels/{agent}`. `agent` is the agent's id or name; every session route checks the session is that
agent's (404 otherwise). Its event stream (`.../sse`) is served by the streaming function (routers/runtime_stream.py).
"""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, StringConstraints

from agentctx.api.channels import channel_agent, channel_session
from agentctx.api.deps import Tenant
from agentctx.api.list_params import Cursor, Limit, PageToken
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.api.routers.runtime_events import list_events
from agentctx.api.routers.runtime_messages import post_message
from agentctx.api.routers.runtime_sessions import cancel_session
from agentctx.api.runtime_views import session_out
from agentctx.schemas.base import SnakeRequestModel
from agentctx.schemas.catalog import SnakeList
from agentctx.schemas.runtime import (
    CancelOut,
    EventOut,
    MessageCreate,
    MessageOut,
    RuntimeSessionCreate,
    RuntimeSessionOut,
)
from agentctx.wiring import runtime_service

router = APIRouter(tags=["agent channel"], responses=ERROR_RESPONSES)


class AgentCard(BaseModel):
    id: str
    agent_id: str
    name: str
    display_name: str
    description: str | None
    input: dict[str, list[str]] = {"content_types": ["text"]}
    credentials: list[str] = ["api_key"]
    conversation_starters: list[str] = []
    sessions_url: str


class ChannelSessionCreate(SnakeRequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Support chat"}]})

    title: Annotated[str, StringConstraints(max_length=256, strip_whitespace=True)] | None = None


@router.get("/v1/channels/{agent}", response_model=AgentCard)
def agent_card(agent: str, tenant: Tenant) -> AgentCard:
    """The agent card: who answers on this channel and what it accepts."""
    found = channel_agent(tenant, agent)
    return AgentCard(
        id=found.id,
        agent_id=found.id,
        name=found.slug,
        display_name=found.name,
        description=found.description,
        sessions_url=f"/v1/channels/{found.slug}/sessions",
    )


@router.post("/v1/channels/{agent}/sessions", status_code=201, response_model=RuntimeSessionOut)
def channel_create_session(
    agent: str, tenant: Tenant, body: Annotated[ChannelSessionCreate | None, Body()] = None
) -> RuntimeSessionOut:
    found = channel_agent(tenant, agent)
    request = RuntimeSessionCreate(agent_id=found.id, title=body.title if body else None)
    return session_out(runtime_service().create(tenant, request))


@router.get("/v1/channels/{agent}/sessions", response_model=SnakeList[RuntimeSessionOut])
def channel_list_sessions(
    agent: str, tenant: Tenant, limit: Limit = 50, cursor: Cursor = None, page_token: PageToken = None
) -> SnakeList[RuntimeSessionOut]:
    """This agent's sessions, newest first; page on with `page_token` = `next_page_token`."""
    found = channel_agent(tenant, agent)
    views, next_cursor = runtime_service().list_page(tenant, [], limit, cursor or page_token, found.id)
    return SnakeList(
        data=[session_out(v) for v in views], has_more=next_cursor is not None, next_cursor=next_cursor, limit=limit
    )


@router.get("/v1/channels/{agent}/sessions/{session_id}", response_model=RuntimeSessionOut)
def channel_get_session(agent: str, session_id: str, tenant: Tenant) -> RuntimeSessionOut:
    return session_out(channel_session(tenant, agent, session_id))


@router.post(
    "/v1/channels/{agent}/sessions/{session_id}/messages",
    status_code=201,
    response_model=MessageOut,
)
def channel_post_message(agent: str, session_id: str, body: MessageCreate, tenant: Tenant) -> MessageOut:
    channel_session(tenant, agent, session_id)
    return post_message(session_id, body, tenant)


@router.post("/v1/channels/{agent}/sessions/{session_id}/cancel", response_model=CancelOut)
def channel_cancel(agent: str, session_id: str, tenant: Tenant) -> CancelOut:
    channel_session(tenant, agent, session_id)
    return cancel_session(session_id, tenant)


@router.get("/v1/channels/{agent}/sessions/{session_id}/events", response_model=SnakeList[EventOut])
def channel_list_events(
    request: Request,
    agent: str,
    session_id: str,
    tenant: Tenant,
    after_sequence: Annotated[int | None, Query(ge=0, description="Only events after this sequence")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> SnakeList[EventOut]:
    """Oldest first after `after_sequence` (AgentClient pages forward with it)."""
    channel_session(tenant, agent, session_id)
    return list_events(request, session_id, tenant, after_sequence=after_sequence, limit=limit)
