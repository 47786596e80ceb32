"""The agent-runtime surface (`/v1/sessions`, `/v1/capabilities`) at the edge, in snake_case (seeds 002, 003)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from agentctx.domain import SessionStatus
from agentctx.schemas import MAX_SESSION_TAGS, Tag
from agentctx.schemas.catalog import CapabilityRefIn, CapabilityRefOut, SnakeRequestModel
from agentctx.schemas.limits import SMALL_JSON

Reference = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Title = Annotated[str, StringConstraints(max_length=256, strip_whitespace=True)]
Tags = Annotated[list[Tag], Field(max_length=MAX_SESSION_TAGS)]


def _unique(tags: list[str] | None) -> list[str] | None:
    return list(dict.fromkeys(tags)) if tags is not None else None


class RuntimeSessionCreate(SnakeRequestModel):
    agent_id: Reference = Field(description="The agent working in this session: agent_{32-hex} (or a dashed UUID)")
    title: Title | None = None
    tags: Tags = []
    model_id: Reference | None = Field(
        default=None, description="Overrides the agent's default model: model_{32-hex}, or a model's name"
    )
    capabilities: Annotated[list[CapabilityRefIn], Field(max_length=50)] = Field(
        default=[], description="Added to the agent's; a config given here overrides the agent's for this ref"
    )

    _tags_unique = field_validator("tags")(_unique)


class RuntimeSessionUpdate(SnakeRequestModel):
    title: Title | None = None
    tags: Tags | None = None

    _tags_unique = field_validator("tags")(_unique)


class SessionUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class RuntimeSessionOut(BaseModel):
    id: str = Field(examples=["session_01933b5a000070008000000000000001"])
    organization_id: str
    agent_id: str | None
    title: str | None
    tags: list[str]
    model_id: str | None
    capabilities: list[CapabilityRefOut]
    status: SessionStatus
    features: list[str]
    preview: str | None
    output_preview: str | None
    usage: SessionUsage | None
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None


class TextContent(SnakeRequestModel):
    type: Literal["text"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class InputMessage(SnakeRequestModel):
    role: Literal["user"] = "user"
    content: Annotated[list[TextContent], Field(min_length=1, max_length=50)]


class MessageCreate(SnakeRequestModel):
    message: InputMessage
    metadata: Annotated[dict[str, Any], Field(max_length=50), SMALL_JSON] | None = None
    tags: Tags = []


class MessageOut(BaseModel):
    id: str
    session_id: str
    role: Literal["user", "agent"]
    content: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None
    tags: list[str] = []
    turn_id: str | None = None
    created_at: str


class EventContext(BaseModel):
    turn_id: str | None = None
    input_message_id: str | None = None


class EventOut(BaseModel):
    id: str
    type: str
    ts: str
    session_id: str
    sequence: int
    context: EventContext
    data: dict[str, Any]


class CapabilityOut(BaseModel):
    ref: str
    name: str
    description: str
    config_schema: dict[str, Any]
    features: list[str]
    tools: list[str]
