"""Client for the agent context service: `Client` for both surfaces, `ApiError` for refusals, typed models."""

from agentctx_client.client import Client
from agentctx_client.errors import ApiError, Conflict, InvalidRequest, NotFound, RateLimited, Unauthorized
from agentctx_client.models import (
    Agent,
    AgentSession,
    Block,
    CompactionJob,
    Event,
    Invocation,
    InvokeCompleted,
    InvokeEvent,
    InvokeFailed,
    InvokeResult,
    Message,
    RenderedContext,
    Session,
    SessionSummary,
    TextDelta,
)

__all__ = [
    "Agent",
    "AgentSession",
    "ApiError",
    "Block",
    "Client",
    "CompactionJob",
    "Conflict",
    "Event",
    "InvalidRequest",
    "Invocation",
    "InvokeCompleted",
    "InvokeEvent",
    "InvokeFailed",
    "InvokeResult",
    "Message",
    "NotFound",
    "RateLimited",
    "RenderedContext",
    "Session",
    "SessionSummary",
    "TextDelta",
    "Unauthorized",
]
