"""The service's objects as typed models. Field names follow the API (camelCase on /v1/aip, snake_case on
/v1/sessions) through aliases; each model names the OpenAPI schema it mirrors (`openapi_schema`), and the
project's tests check every field against the service's /openapi.json so the two cannot drift. Unknown fields are
kept, not refused, so a newer service does not break an older client."""

from typing import Any, ClassVar, Literal

from pydantic import AliasGenerator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    openapi_schema: ClassVar[str]


class _CamelModel(_Model):
    model_config = ConfigDict(alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel))


# AIP sessions and blocks (/v1/aip)


class SessionMetrics(_CamelModel):
    openapi_schema = "SessionMetrics"
    total_tokens: int
    max_tokens: int
    tokens_remaining_pct: float
    compaction_count: int
    block_count: int
    invocation_count: int


class SessionSummary(_CamelModel):
    """A session as lists show it."""

    openapi_schema = "SessionListItem"
    id: str
    name: str
    default_agent: str | None = None
    tags: list[str] = []
    metrics: SessionMetrics
    forked_from: str | None = None
    created_at: str
    updated_at: str


class Session(SessionSummary):
    """A session as `get`, `create` and `fork` return it, with its recent and pinned blocks' ids."""

    openapi_schema = "SessionOut"
    blocks: list[Any] = []
    pinned_blocks: list[Any] = []


class BlockMetadata(_CamelModel):
    openapi_schema = "BlockMetadata"
    token_count: int
    tags: list[str] = []
    pinned: bool = False
    importance: float
    compaction_level: int = 0
    compacted: bool | None = None
    compacted_by: str | None = None
    summary_of: dict[str, Any] | None = None


class Block(_CamelModel):
    openapi_schema = "BlockOut"
    id: str
    session_id: str
    type: str
    content: Any = None
    metadata: BlockMetadata
    created_at: str


class CompactionJob(_CamelModel):
    openapi_schema = "CompactionJobOut"
    id: str
    session_id: str
    status: str
    trigger: str
    target_tokens: int | None = None
    preserve_pinned: bool
    preserve_recent: int
    requested_at: str
    started_at: str | None = None
    completed_at: str | None = None
    previous_tokens: int | None = None
    new_tokens: int | None = None
    blocks_compacted: int | None = None
    summaries_created: int | None = None
    model_calls: int | None = None
    target_reached: bool | None = None
    reason: str | None = None
    error: dict[str, Any] | None = None


class InvokeUsage(_CamelModel):
    """`input_tokens` counts every input token; the cache reads and writes are parts of it."""

    openapi_schema = "InvokeUsage"
    context_tokens: int
    input_tokens: int
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int
    cost_usd: float | None = None


class InvokeContext(_CamelModel):
    openapi_schema = "InvokeContext"
    block_ids: list[str]
    token_count: int


class InvokeResult(_CamelModel):
    openapi_schema = "InvokeResult"
    id: str
    status: str
    output: str
    agent: str
    session: str | None = None
    blocks_created: list[str] = []
    usage: InvokeUsage
    context: InvokeContext


class Invocation(_CamelModel):
    openapi_schema = "InvocationRecord"
    id: str
    status: str
    agent: str
    agent_id: str
    model_id: str
    session: str
    prompt: str
    output: str | None = None
    blocks_created: list[str] = []
    context_block_ids: list[str] = []
    usage: InvokeUsage
    error: dict[str, Any] | None = None
    created_at: str
    completed_at: str | None = None


class ContextSections(_CamelModel):
    """Tokens of each part of a rendered request, in the order rendered."""

    openapi_schema = "ContextSections"
    tools: int
    system: int
    context: int
    history: int
    request: int
    prompt: int


class RenderedContext(_CamelModel):
    """The assembled context for a prompt; `payload` is ready to send as it is (a provider's request body, or
    `{"text": ...}` in the text format)."""

    openapi_schema = "RenderedContext"
    format: str
    agent: str | None = None
    model: str
    block_ids: list[str]
    enriched_block_ids: list[str]
    token_count: int
    sections: ContextSections
    cache_points: int
    payload: dict[str, Any]


# Events of a streamed invocation (`invoke --stream`): `event:` name and `data:` JSON of each Server-Sent Event.


class InvokeEvent(_Model):
    """One event of a streamed invocation; `event` is its SSE name, `data` its payload."""

    openapi_schema = ""
    event: str
    data: dict[str, Any]


class TextDelta(InvokeEvent):
    """A piece of the answer's text, as it arrives."""

    event: Literal["text_delta"] = "text_delta"

    @property
    def text(self) -> str:
        return str(self.data.get("content", ""))


class InvokeCompleted(InvokeEvent):
    """The last event of a successful invocation; `result` is what a non-streamed call returns."""

    event: Literal["complete"] = "complete"

    @property
    def result(self) -> InvokeResult:
        return InvokeResult.model_validate(self.data)


class InvokeFailed(InvokeEvent):
    """The last event of a failed invocation."""

    event: Literal["error"] = "error"

    @property
    def code(self) -> str:
        return str(self.data.get("code", "error"))

    @property
    def message(self) -> str:
        return str(self.data.get("message", ""))


INVOKE_EVENTS: dict[str, type[InvokeEvent]] = {
    "text_delta": TextDelta,
    "complete": InvokeCompleted,
    "error": InvokeFailed,
}


# Catalog and the agent-runtime surface (/v1/agents, /v1/sessions): snake_case


class CapabilityRef(_Model):
    openapi_schema = "CapabilityRefOut"
    ref: str
    config: dict[str, Any] | None = None


class Agent(_Model):
    openapi_schema = "AgentOut"
    id: str
    name: str
    display_name: str = ""
    slug: str
    harness_id: str = ""
    status: str = "active"
    tags: list[str] = []
    description: str | None = None
    system_prompt: str
    default_model_id: str
    capabilities: list[CapabilityRef] = []
    created_at: str
    updated_at: str


class AgentSession(_Model):
    """A session of the agent-runtime surface (seed 003's Session object)."""

    openapi_schema = "RuntimeSessionOut"
    id: str
    organization_id: str
    harness_id: str = ""
    agent_id: str | None = None
    title: str | None = None
    tags: list[str] = []
    model_id: str | None = None
    capabilities: list[CapabilityRef] = []
    status: str
    features: list[str] = []
    preview: str | None = None
    output_preview: str | None = None
    usage: dict[str, Any] | None = None
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None


class Message(_Model):
    openapi_schema = "MessageOut"
    id: str
    session_id: str
    role: str
    content: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None
    tags: list[str] = []
    turn_id: str | None = None
    created_at: str

    @property
    def text(self) -> str:
        return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")


class Event(_Model):
    """One entry of a session's event log (seed 002's envelope), from the JSON list or the SSE stream."""

    openapi_schema = "EventOut"
    id: str
    type: str
    ts: str
    session_id: str
    sequence: int
    context: dict[str, Any] = {}
    data: dict[str, Any] = {}


MODELS: tuple[type[_Model], ...] = (
    SessionMetrics,
    SessionSummary,
    Session,
    BlockMetadata,
    Block,
    CompactionJob,
    InvokeUsage,
    InvokeContext,
    InvokeResult,
    Invocation,
    ContextSections,
    RenderedContext,
    CapabilityRef,
    Agent,
    AgentSession,
    Message,
    Event,
)

# Annotations for the resource classes, whose `list` methods would shadow the builtin inside them.
Strings = list[str]
Dicts = list[dict[str, Any]]
BlockList = list[Block]
