"""Invocation at the edge: the AIP invoke body (camelCase), the AIP 0.1.0 well-known shapes, and results."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from agentctx.schemas.base import RequestModel, ResponseModel, SessionIdIn, Tag
from agentctx.schemas.limits import bounded_json


class ContextOptions(RequestModel):
    block_ids: Annotated[list[Annotated[str, StringConstraints(max_length=128)]], Field(max_length=500)] = []
    include_by_tag: Annotated[list[Tag], Field(max_length=50)] | None = None
    exclude_by_tag: Annotated[list[Tag], Field(max_length=50)] | None = None
    include_pinned: bool = True
    max_tokens: Annotated[int, Field(ge=1, le=10_000_000)] | None = None


class EnrichmentConfigIn(RequestModel):
    include_preferences: bool = False
    recency_bias: Annotated[float, Field(ge=0, le=1)] = 0.3
    max_tokens: Annotated[int, Field(ge=0, le=1_000_000)] = 4_000


Prompt = Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]


class InvokeRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"agent": "code-assistant", "prompt": "What is current_time?", "stream": False}]
        }
    )

    agent: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(description="Agent slug or id")
    prompt: Prompt
    session: SessionIdIn | None = Field(default=None, description="Omitted: an ephemeral invocation that saves nothing")
    context: ContextOptions = ContextOptions()
    enrichment: Literal["none", "manual", "auto"] = "none"
    enrichment_config: EnrichmentConfigIn = EnrichmentConfigIn()
    stream: bool = False
    save_to_session: bool = True


ContextFormat = Literal["text", "openai", "anthropic", "bedrock"]


class ContextRequest(RequestModel):
    """The assembled context for a prompt, for the caller's own agent loop; with an agent, a preview of exactly
    what invoking it would send."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session": "sess_0123456789abcdef0123456789abcdef",
                    "prompt": "Continue the auth implementation",
                    "context": {"includeByTag": ["authentication"], "maxTokens": 50000},
                    "format": "anthropic",
                }
            ]
        }
    )

    prompt: Prompt
    session: SessionIdIn | None = Field(default=None, description="Omitted: no context, only the prompt rendered")
    agent: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None,
        description="Agent slug or id: its system prompt, tools and model are used, as an invocation would use them",
    )
    system_prompt: Annotated[str, StringConstraints(max_length=200_000)] | None = Field(
        default=None, description="Without an agent: the system prompt your loop sends, rendered first"
    )
    context: ContextOptions = ContextOptions()
    enrichment: Literal["none", "manual", "auto"] = "none"
    enrichment_config: EnrichmentConfigIn = EnrichmentConfigIn()
    format: ContextFormat | None = Field(
        default=None,
        description="text, or a provider's request body: openai (Chat Completions), anthropic (Messages, with "
        "cache_control), bedrock (Converse, with cachePoint). Default: the format of the model used",
    )


class ContextSections(ResponseModel):
    tools: int
    system: int
    context: int
    history: int
    request: int
    prompt: int


class RenderedContext(ResponseModel):
    format: ContextFormat
    agent: str | None
    model: str = Field(description="The model id whose window and cache rules shaped the request")
    block_ids: list[str]
    enriched_block_ids: list[str]
    token_count: int = Field(description="Tokens of the blocks used, enrichment included: at most context.maxTokens")
    sections: ContextSections = Field(description="Tokens of each part of the request, in the order rendered")
    cache_points: int = Field(description="Cache points in the payload (bedrock and anthropic formats)")
    payload: dict[str, Any] = Field(
        description="Ready to send: the provider's request body, or {text} in the text format"
    )


class InvokeUsage(ResponseModel):
    context_tokens: int
    input_tokens: int = Field(description="All the input the model calls took, cache reads and writes included")
    cache_read_input_tokens: int = Field(default=0, description="Input read from the provider's prompt cache")
    cache_write_input_tokens: int = Field(default=0, description="Input written to the provider's prompt cache")
    output_tokens: int
    cost_usd: float | None = Field(default=None, description="null when the model has no price (GET /v1/models)")


class InvokeContext(ResponseModel):
    block_ids: list[str]
    token_count: int


class InvokeResult(ResponseModel):
    id: str
    status: Literal["completed", "failed"]
    output: str
    agent: str
    session: str | None
    blocks_created: list[str]
    usage: InvokeUsage
    context: InvokeContext


class InvocationRecord(ResponseModel):
    id: str
    status: Literal["running", "completed", "failed"]
    agent: str
    agent_id: str
    model_id: str
    session: str
    prompt: str
    output: str | None
    blocks_created: list[str]
    context_block_ids: list[str]
    usage: InvokeUsage
    error: dict[str, str] | None
    created_at: str
    completed_at: str | None


class AipModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AipPrompt(AipModel):
    content: Prompt
    # appended to the prompt as text: together at most a block's default size
    attachments: Annotated[list[dict[str, Any]], Field(max_length=20), bounded_json(262_144)] = []


class AipContextIn(AipModel):
    session_id: SessionIdIn | None = None
    include_by_tag: Annotated[list[Tag], Field(max_length=50)] | None = None
    exclude_by_tag: Annotated[list[Tag], Field(max_length=50)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=10_000_000)] | None = None


class AipOptions(AipModel):
    stream: bool = False
    save_to_session: bool = True


class AipInvokeRequest(AipModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"aip_version": "0.1.0", "prompt": {"content": "Build a landing page"}}]}
    )

    aip_version: Literal["0.1.0"] = "0.1.0"
    prompt: AipPrompt
    context: AipContextIn = AipContextIn()
    options: AipOptions = AipOptions()


class AipAgentSummary(ResponseModel):
    id: str
    slug: str
    name: str
    description: str | None
    model: str
    capabilities: list[str]


class AipToolOut(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]


class AipContextRequirements(BaseModel):
    max_tokens: int
    supported_block_types: list[str]


class AipModelOut(BaseModel):
    id: str
    provider: str
    provider_model_id: str
    context_window: int


class AipManifest(BaseModel):
    aip_version: Literal["0.1.0"]
    name: str
    slug: str
    description: str | None
    capabilities: list[str]
    context_requirements: AipContextRequirements
    tools: list[AipToolOut]
    models: list[AipModelOut]
    invoke: str
