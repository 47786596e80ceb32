"""The agent-runtime surface (`/v1/sessions`, `/v1/capabilities`) at the edge, in snake_case (seeds 002, 003)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from agentctx.domain import SessionStatus
from agentctx.schemas.base import MAX_SESSION_TAGS, SnakeRequestModel, Tag
from agentctx.schemas.catalog import CapabilityRefIn, CapabilityRefOut, EverrunsFields, Handle
from agentctx.schemas.limits import SMALL_JSON, FreeJson, FreeObject

Reference = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Title = Annotated[str, StringConstraints(max_length=256, strip_whitespace=True)]
Locale = Annotated[str, StringConstraints(min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")]
Tags = Annotated[list[Tag], Field(max_length=MAX_SESSION_TAGS)]


def _unique(tags: list[str] | None) -> list[str] | None:
    return list(dict.fromkeys(tags)) if tags is not None else None


class RuntimeSessionCreate(EverrunsFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"agent_name": "code-assistant", "title": "Refactor auth", "tags": ["project-x"]}]
        }
    )

    agent_id: Reference | None = Field(
        default=None, description="The agent working in this session: agent_{32-hex} (or a dashed UUID)"
    )
    agent_name: Handle | None = Field(default=None, description="The agent by its name (handle), instead of agent_id")
    locale: Locale | None = Field(default=None, description="BCP 47; recorded on the session")
    title: Title | None = None
    tags: Tags = []
    model_id: Reference | None = Field(
        default=None, description="Overrides the agent's default model: model_{32-hex}, or a model's name"
    )
    capabilities: Annotated[list[CapabilityRefIn], Field(max_length=50)] = Field(
        default=[], description="Added to the agent's; a config given here overrides the agent's for this ref"
    )

    _tags_unique = field_validator("tags")(_unique)

    @model_validator(mode="after")
    def _one_agent(self) -> "RuntimeSessionCreate":
        if (self.agent_id is None) == (self.agent_name is None):
            raise ValueError("give the agent as agent_id or as agent_name (exactly one)")
        return self


class ForkRequest(SnakeRequestModel):
    """Everruns' fork body: omitted fields inherit the parent's (title defaults to "{parent title} (fork)")."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Refactor auth, second try"}]})

    title: Title | None = None
    tags: Tags | None = None

    _tags_unique = field_validator("tags")(_unique)


class CancelOut(BaseModel):
    status: Literal["cancelled", "no_op"]
    message: str


class RuntimeSessionUpdate(SnakeRequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Refactor auth to JWT", "tags": ["project-x", "auth"]}]}
    )

    title: Title | None = None
    tags: Tags | None = None

    _tags_unique = field_validator("tags")(_unique)


class SessionUsage(BaseModel):
    """The session's turns summed, with the Everruns SDK's TokenUsage names."""

    input_tokens: int = Field(description="All the input its model calls took, cache reads and writes included")
    output_tokens: int
    total_tokens: int
    cache_read_tokens: int = Field(description="Input read from the provider's prompt cache")
    cache_creation_tokens: int = Field(description="Input written to the provider's prompt cache")
    estimated_cost_usd: float | None = Field(description="The turns run on models with a price; null when none was")


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
    harness_id: str
    locale: str | None = None
    forked_from_session_id: str | None = None


class TextContent(SnakeRequestModel):
    type: Literal["text"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class InputMessage(SnakeRequestModel):
    role: Literal["user"] = "user"
    content: Annotated[list[TextContent], Field(min_length=1, max_length=50)]


class Controls(SnakeRequestModel):
    """Everruns' per-message controls, applied to that message's turn."""

    model_id: Reference | None = Field(default=None, description="The model for this turn (id or name)")
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="At most the model's max_output_tokens"
    )
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    locale: Locale | None = Field(default=None, description="Recorded with the message")
    error_disclosure: str | None = Field(default=None, description="Accepted; errors are always disclosed")
    hints: FreeObject | None = Field(default=None, description="Accepted and recorded")
    reasoning: FreeJson = Field(default=None, description="Accepted and recorded")


class ExternalActor(SnakeRequestModel):
    actor_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    actor_name: Annotated[str, StringConstraints(max_length=256)] | None = None
    metadata: Annotated[dict[str, str], Field(max_length=50), SMALL_JSON] | None = None


class MessageCreate(SnakeRequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": {"content": [{"type": "text", "text": "What is current_time?"}]}}]}
    )

    message: InputMessage
    metadata: Annotated[dict[str, Any], Field(max_length=50), SMALL_JSON] | None = None
    tags: Tags = []
    controls: Controls | None = None
    external_actor: ExternalActor | None = None


class MessageOut(BaseModel):
    id: str
    session_id: str
    role: Literal["user", "agent"]
    content: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None
    tags: list[str] = []
    turn_id: str | None = None
    controls: dict[str, Any] | None = None
    external_actor: dict[str, Any] | None = None
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


class ToolDefinitionOut(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]
    type: Literal["builtin"] = "builtin"


class CapabilityOut(BaseModel):
    """Ours (ref, tools) and Everruns' CapabilityInfo (id = ref, status, category, tool_definitions)."""

    id: str
    ref: str
    name: str
    description: str
    status: Literal["available"] = "available"
    category: str
    config_schema: dict[str, Any]
    features: list[str]
    tools: list[str]
    tool_definitions: list[ToolDefinitionOut]
