"""Models and agents at the edge, in the snake_case style of the agent-runtime surface (seeds 002 and 003)."""

from typing import Annotated, Any, Generic, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from agentctx.domain import Provider
from agentctx.payload import RESPONSE_BYTES_BUDGET
from agentctx.schemas.base import MAX_SESSION_TAGS, Name, SnakeRequestModel, T, Tag
from agentctx.schemas.limits import FreeObject

Slug = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
# An Everruns addressable name: an agent's `name`, a harness's
HANDLE_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Handle = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=HANDLE_PATTERN)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Tags = Annotated[list[Tag], Field(max_length=MAX_SESSION_TAGS)]


def unique_tags(tags: list[str] | None) -> list[str] | None:
    return list(dict.fromkeys(tags)) if tags is not None else None


class InitialFileIn(SnakeRequestModel):
    """A file copied into each new session (Everruns' InitialFile); it lands in the session's files."""

    path: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    content: Annotated[str, StringConstraints(max_length=400_000)]
    encoding: Literal["text", "base64"] | None = None
    is_readonly: bool | None = None


class InitialFileOut(BaseModel):
    path: str
    content: str
    encoding: str = "text"
    is_readonly: bool = False


class EverrunsFields(SnakeRequestModel):
    """Fields the Everruns SDK sends on agents and sessions. Accepted, applied where we can; what we cannot honour
    (client-side tools, parallel tool calls) is refused by the service with a 400 naming the field."""

    tools: Annotated[list[FreeObject], Field(max_length=50)] = Field(
        default=[], description="Client-side tools: none are supported, so only an empty list is accepted"
    )
    initial_files: Annotated[list[InitialFileIn], Field(max_length=50)] = Field(
        default=[], description="Files copied into each new session (see session_file_system)"
    )
    harness_id: Reference | None = Field(default=None, description="The built-in harness (GET /v1/harnesses)")
    harness_name: Reference | None = Field(default=None, description="The built-in harness by name: generic")
    parallel_tool_calls: bool | None = Field(default=None, description="Tools run one at a time: false or omitted")


Price = Annotated[float, Field(ge=0, le=100_000, description="USD per million tokens")]


class PromptCacheOption(SnakeRequestModel):
    """The model option `prompt_cache` (providers/caching.py): whether and how requests mark what to cache."""

    enabled: bool = True
    min_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    ttl: Literal["5m", "1h"] = "5m"


def checked_options(options: dict[str, Any] | None) -> dict[str, Any] | None:
    """The options, with `prompt_cache` checked when the model is written, not when it is first used."""
    if options and "prompt_cache" in options:
        try:
            PromptCacheOption.model_validate(options["prompt_cache"])
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise ValueError(f"prompt_cache{'.' + where if where else ''}: {problem['msg']}") from None
    return options


class ModelCostIn(SnakeRequestModel):
    """A model's price, as Everruns' ModelCost (without tiers), with a cache-write price beside the read one."""

    input: Price
    output: Price
    cache_read: Price | None = Field(default=None, description="Omitted: the input price")
    cache_write: Price | None = Field(default=None, description="Omitted: the input price")


class ModelCostOut(BaseModel):
    input: float
    output: float
    cache_read: float | None = Field(description="null: the input price")
    cache_write: float | None = Field(description="null: the input price")


class ModelCreate(SnakeRequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Offline model",
                    "provider": "offline",
                    "provider_model_id": "offline-1",
                    "context_window": 200_000,
                    "max_output_tokens": 4_096,
                }
            ]
        }
    )

    name: Name
    provider: Provider
    provider_model_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    context_window: Annotated[int, Field(ge=1_000, le=10_000_000)]
    max_output_tokens: Annotated[int, Field(ge=1, le=1_000_000)]
    options: FreeObject = Field(
        default={},
        description="Provider options: temperature, top_p, region (bedrock), additional_model_request_fields, "
        "prompt_cache {enabled, min_tokens, ttl: 5m | 1h}",
    )
    cost: ModelCostIn | None = Field(default=None, description="Omitted: no price, so usage carries no cost")

    _options = field_validator("options")(checked_options)

    @model_validator(mode="after")
    def _output_fits_window(self) -> "ModelCreate":
        if self.max_output_tokens >= self.context_window:
            raise ValueError("max_output_tokens must be smaller than context_window")
        return self


class ModelUpdate(SnakeRequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Offline model, short answers", "max_output_tokens": 1_024}]}
    )

    name: Name | None = None
    provider_model_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    context_window: Annotated[int, Field(ge=1_000, le=10_000_000)] | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    options: FreeObject | None = None
    cost: ModelCostIn | None = Field(default=None, description="null: the model has no price any more")

    _options = field_validator("options")(checked_options)


class ModelOut(BaseModel):
    """Our model, with the fields of Everruns' ModelWithProvider beside ours."""

    id: str
    name: str
    provider: Provider
    provider_model_id: str
    context_window: int
    max_output_tokens: int
    options: dict[str, Any]
    cost: ModelCostOut | None
    created_at: str
    updated_at: str
    display_name: str
    model_id: str = Field(description="The provider's model id (provider_model_id)")
    provider_id: str
    provider_name: str
    provider_type: str
    enabled: bool = True
    healthy: bool = True
    is_favorite: bool = False
    source: Literal["manual", "predefined"] = Field(description="predefined: the organization's default model")
    capabilities: list[str] = ["text", "tools"]


class CapabilityRefIn(SnakeRequestModel):
    ref: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    config: FreeObject = {}


class CapabilityRefOut(BaseModel):
    ref: str
    config: dict[str, Any]


class AgentCreate(EverrunsFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "reviewer",
                    "display_name": "Code reviewer",
                    "system_prompt": "You review code changes and point out risks.",
                    "capabilities": [{"ref": "current_time"}],
                    "tags": ["review"],
                }
            ]
        }
    )

    id: Reference | None = Field(
        default=None, description="A client-chosen id (agent_ + 32 hex): created, or updated when it exists"
    )
    name: Name = Field(
        description="The agent's handle ([a-z0-9]+(-[a-z0-9]+)*, up to 64, unique per organization). A name that is "
        "not a handle is taken as the display name, the handle being `slug` or derived from it"
    )
    display_name: Name | None = Field(default=None, description="The label; defaults to name")
    slug: Slug | None = Field(default=None, description="Alias of the handle (the AIP surface's `agent`)")
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    system_prompt: Annotated[str, StringConstraints(max_length=100_000)] = ""
    default_model_id: Reference | None = Field(
        default=None, description="Omitted: the organization's default model (the built-in `default` model)"
    )
    capabilities: Annotated[list[CapabilityRefIn], Field(max_length=50)] = []
    tags: Tags = []

    _tags_unique = field_validator("tags")(unique_tags)


class AgentUpdate(SnakeRequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"description": "Reviews diffs for security issues", "tags": ["review", "security"]}]
        }
    )

    name: Name | None = None
    display_name: Name | None = None
    slug: Slug | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    system_prompt: Annotated[str, StringConstraints(max_length=100_000)] | None = None
    default_model_id: Reference | None = None
    capabilities: Annotated[list[CapabilityRefIn], Field(max_length=50)] | None = None
    tags: Tags | None = None
    status: Literal["active", "archived"] | None = None
    initial_files: Annotated[list[InitialFileIn], Field(max_length=50)] | None = None

    _tags_unique = field_validator("tags")(unique_tags)


class AgentOut(BaseModel):
    id: str
    name: str = Field(description="The handle (equal to slug)")
    display_name: str
    slug: str
    description: str | None
    system_prompt: str
    default_model_id: str
    capabilities: list[CapabilityRefOut]
    tags: list[str]
    status: Literal["active", "archived"]
    harness_id: str
    tools: list[dict[str, Any]] = []
    initial_files: list[InitialFileOut] = []
    created_at: str
    updated_at: str


class HarnessOut(BaseModel):
    """The one built-in harness every agent and session runs in."""

    id: str
    name: str
    display_name: str
    description: str
    status: Literal["active"] = "active"
    is_built_in: bool = True
    system_prompt: str | None = None
    capabilities: list[CapabilityRefOut] = []
    tags: list[str] = []
    created_at: str
    updated_at: str


class SnakeList(BaseModel, Generic[T]):
    """A page: our `has_more`/`next_cursor`, with Everruns' `total`/`offset`/`limit` and `next_page_token` (the
    same cursor, which `page_token` takes back) beside them."""

    data: list[T]
    has_more: bool = Field(description="True exactly when `next_cursor` is given")
    next_cursor: str | None = None
    next_page_token: str | None = None
    total: int | None = Field(default=None, description="Items in this page plus any after it, when known")
    offset: int = 0
    limit: int | None = None
    truncated_by_bytes: bool = Field(
        default=False,
        description="The page holds fewer items than asked for, because one more would have taken the answer past "
        f"its byte budget ({RESPONSE_BYTES_BUDGET:,} bytes, under Lambda's 6 MB)",
    )

    @model_validator(mode="after")
    def _everruns_fields(self) -> "SnakeList[T]":
        self.next_page_token = self.next_cursor
        if self.total is None:
            self.total = len(self.data) if not self.has_more else None
        return self


class SnakeDeleted(BaseModel):
    id: str
    deleted: bool
