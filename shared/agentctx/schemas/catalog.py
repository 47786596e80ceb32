"""Models and agents at the edge, in the snake_case style of the agent-runtime surface (seeds 002 and 003)."""

from typing import Annotated, Any, Generic

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from agentctx.domain import Provider
from agentctx.schemas import Name, T
from agentctx.schemas.limits import SMALL_JSON


class SnakeRequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


Slug = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class ModelCreate(SnakeRequestModel):
    name: Name
    provider: Provider
    provider_model_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    context_window: Annotated[int, Field(ge=1_000, le=10_000_000)]
    max_output_tokens: Annotated[int, Field(ge=1, le=1_000_000)]
    options: Annotated[dict[str, Any], SMALL_JSON] = Field(
        default={},
        description="Provider options: temperature, top_p, region (bedrock), additional_model_request_fields",
    )

    @model_validator(mode="after")
    def _output_fits_window(self) -> "ModelCreate":
        if self.max_output_tokens >= self.context_window:
            raise ValueError("max_output_tokens must be smaller than context_window")
        return self


class ModelUpdate(SnakeRequestModel):
    name: Name | None = None
    provider_model_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    context_window: Annotated[int, Field(ge=1_000, le=10_000_000)] | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    options: Annotated[dict[str, Any], SMALL_JSON] | None = None


class ModelOut(BaseModel):
    id: str
    name: str
    provider: Provider
    provider_model_id: str
    context_window: int
    max_output_tokens: int
    options: dict[str, Any]
    created_at: str
    updated_at: str


class CapabilityRefIn(SnakeRequestModel):
    ref: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    config: Annotated[dict[str, Any], SMALL_JSON] = {}


class CapabilityRefOut(BaseModel):
    ref: str
    config: dict[str, Any]


class AgentCreate(SnakeRequestModel):
    name: Name
    slug: Slug | None = Field(default=None, description="Derived from the name when not given")
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    system_prompt: Annotated[str, StringConstraints(max_length=100_000)] = ""
    default_model_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    capabilities: Annotated[list[CapabilityRefIn], Field(max_length=50)] = []


class AgentUpdate(SnakeRequestModel):
    name: Name | None = None
    slug: Slug | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    system_prompt: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    default_model_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    capabilities: Annotated[list[CapabilityRefIn], Field(max_length=50)] | None = None


class AgentOut(BaseModel):
    id: str
    name: str
    slug: str
    description: str | None
    system_prompt: str
    default_model_id: str
    capabilities: list[CapabilityRefOut]
    created_at: str
    updated_at: str


class SnakeList(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None = None


class SnakeDeleted(BaseModel):
    id: str
    deleted: bool
