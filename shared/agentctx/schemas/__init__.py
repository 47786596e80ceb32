"""Pydantic models at the edge: requests in, responses out, in the AIP reference's camelCase.

Request and response shapes are separate classes even where they look alike; constraints live on the fields so
validation and the OpenAPI document agree.
"""

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from agentctx.domain import BlockType
from agentctx.payload import RESPONSE_BYTES_BUDGET
from agentctx.schemas.limits import ContentJson

T = TypeVar("T")

Tag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=True)]
SessionIdIn = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MAX_SESSION_TAGS = 20
MAX_BLOCK_TAGS = 50
MAX_BATCH_BLOCKS = 100


class RequestModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# ----- envelopes -----


class Meta(ResponseModel):
    request_id: str


class ListMeta(Meta):
    has_more: bool = Field(description="True exactly when `nextCursor` is given")
    next_cursor: str | None = None
    truncated_by_bytes: bool = Field(
        default=False,
        description="The page holds fewer items than `limit` asked for, because one more would have taken the "
        f"answer past its byte budget ({RESPONSE_BYTES_BUDGET:,} bytes, under Lambda's 6 MB); `nextCursor` goes on",
    )


class Envelope(ResponseModel, Generic[T]):
    data: T
    meta: Meta


class SessionMeta(Meta):
    """When a session has more blocks (or pinned blocks) than it lists, says so and where the listing pages on."""

    blocks_truncated: bool = False
    blocks_next: str | None = Field(default=None, description="GET this for the blocks after those listed")
    pinned_blocks_truncated: bool = False
    pinned_blocks_next: str | None = Field(default=None, description="GET this for the pinned blocks after those")


class SessionEnvelope(ResponseModel):
    data: "SessionOut"
    meta: SessionMeta


class ListEnvelope(ResponseModel, Generic[T]):
    data: list[T]
    meta: ListMeta


class ErrorBody(ResponseModel):
    code: str
    message: str
    request_id: str
    details: Any | None = None


class ErrorEnvelope(ResponseModel):
    error: ErrorBody


# ----- sessions -----


class SessionCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Auth Feature - Q1", "defaultAgent": "code-assistant", "tags": ["project-x", "auth"]}]
        }
    )

    name: Name
    default_agent: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    tags: Annotated[list[Tag], Field(max_length=MAX_SESSION_TAGS)] = []
    from_session: SessionIdIn | None = Field(default=None, description="Fork from this session id")
    include_by_tag: Annotated[list[Tag], Field(max_length=MAX_SESSION_TAGS)] | None = Field(
        default=None, description="When forking, only include blocks with one of these tags"
    )
    include_pinned: bool = Field(default=True, description="When forking, include pinned blocks regardless of tags")

    @model_validator(mode="after")
    def _fork_options_need_a_source(self) -> "SessionCreate":
        if self.from_session is None and self.include_by_tag is not None:
            raise ValueError("includeByTag applies only when forking with fromSession")
        self.tags = list(dict.fromkeys(self.tags))
        return self


class SessionFork(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Auth Deep Dive", "includeByTag": ["authentication", "security"], "includePinned": True}
            ]
        }
    )

    name: Name
    include_by_tag: Annotated[list[Tag], Field(max_length=MAX_SESSION_TAGS)] | None = None
    exclude_by_tag: Annotated[list[Tag], Field(max_length=MAX_SESSION_TAGS)] | None = None
    include_pinned: bool = True
    include_summaries: bool = True


class SessionMetrics(ResponseModel):
    total_tokens: int
    max_tokens: int
    tokens_remaining_pct: float
    compaction_count: int
    block_count: int
    invocation_count: int


class SessionListItem(ResponseModel):
    id: str
    name: str
    default_agent: str | None
    tags: list[str]
    metrics: SessionMetrics
    forked_from: str | None = None
    created_at: str
    updated_at: str


class SessionOut(SessionListItem):
    """A session with its active block ids in order, and the pinned ones among them: the first 1,000 of each;
    `meta` says when there are more and where to page them."""

    blocks: list[str]
    pinned_blocks: list[str]


class Deleted(ResponseModel):
    deleted: bool


# ----- blocks -----


class Message(RequestModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: Annotated[str, StringConstraints(max_length=10_000_000)]


class FileContent(RequestModel):
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    content: str
    language: str | None = None


class DiffContent(RequestModel):
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    diff: str


class ToolResultContent(RequestModel):
    tool: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    input: ContentJson = None
    output: ContentJson = None


_CONTENT_BY_TYPE: dict[BlockType, TypeAdapter[Any]] = {
    BlockType.CONVERSATION: TypeAdapter(Annotated[list[Message], Field(min_length=1)]),
    BlockType.FILE: TypeAdapter(FileContent),
    BlockType.DIFF: TypeAdapter(DiffContent),
    BlockType.NOTE: TypeAdapter(Annotated[str, StringConstraints(min_length=1)]),
    BlockType.TOOL_RESULT: TypeAdapter(ToolResultContent),
    BlockType.EVENT: TypeAdapter(str | dict[str, Any] | list[Any]),
    BlockType.SUMMARY: TypeAdapter(str | dict[str, Any] | list[Any]),
}

CONTENT_DESCRIPTION = (
    "By type: conversation [{role, content}]; file {path, content, language}; diff {path, diff}; "
    "note a string; tool_result {tool, input, output}; event and summary free-form JSON."
)


class BlockIn(RequestModel):
    type: BlockType
    content: ContentJson = Field(description=CONTENT_DESCRIPTION)
    tags: Annotated[list[Tag], Field(max_length=MAX_BLOCK_TAGS)] = []
    pinned: bool = False
    importance: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="0 to 1; computed from the type when not given"
    )

    @model_validator(mode="after")
    def _content_matches_type(self) -> "BlockIn":
        if self.content is None:
            raise ValueError(f"content is required for a {self.type.value} block")
        try:
            parsed = _CONTENT_BY_TYPE[self.type].validate_python(self.content)
        except ValidationError as error:
            problems = "; ".join(
                f"content{''.join(f'[{part!r}]' for part in problem['loc'])}: {problem['msg']}"
                for problem in error.errors()
            )
            raise ValueError(f"content does not fit a {self.type.value} block: {problems}") from None
        self.content = _CONTENT_BY_TYPE[self.type].dump_python(parsed, mode="json", exclude_none=True)
        self.tags = list(dict.fromkeys(self.tags))
        return self


class BlockCreate(BlockIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sessionId": "sess_0123456789abcdef0123456789abcdef",
                    "type": "note",
                    "content": "Use JWT with refresh tokens",
                    "tags": ["authentication"],
                    "pinned": True,
                }
            ]
        }
    )

    session_id: SessionIdIn = Field(description="The session's id, as POST /v1/aip/sessions answers it")


class BlockBatchCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "blocks": [
                        {
                            "type": "conversation",
                            "content": [{"role": "user", "content": "Add login"}],
                            "tags": ["auth"],
                        },
                        {"type": "note", "content": "Use JWT with refresh tokens", "pinned": True},
                    ]
                }
            ]
        }
    )

    blocks: Annotated[list[BlockIn], Field(min_length=1, max_length=MAX_BATCH_BLOCKS)]


class BlockPatch(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"pinned": True, "tags": ["authentication", "security"]}]}
    )

    pinned: bool | None = None
    tags: Annotated[list[Tag], Field(max_length=MAX_BLOCK_TAGS)] | None = None
    importance: Annotated[float, Field(ge=0, le=1)] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> "BlockPatch":
        if self.pinned is None and self.tags is None and self.importance is None:
            raise ValueError("give at least one of pinned, tags, importance")
        if self.tags is not None:
            self.tags = list(dict.fromkeys(self.tags))
        return self


class BlockMetadata(ResponseModel):
    token_count: int
    tags: list[str]
    pinned: bool
    importance: float
    compaction_level: int
    compacted: bool | None = Field(default=None, description="Present and true once a summary replaced the block")
    compacted_by: str | None = Field(default=None, description="The summary that replaced the block")
    summary_of: dict[str, Any] | None = Field(default=None, description="For a summary: the blocks it covers")


class BlockOut(ResponseModel):
    id: str
    session_id: str
    type: BlockType
    content: Any = Field(default=None, description="Omitted from listings unless include=content")
    metadata: BlockMetadata
    created_at: str


# ----- tenants (admin API) -----


class TenantCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Acme"}]})

    name: Name


class TenantOut(ResponseModel):
    id: str
    name: str
    created_at: str


class ApiKeyOut(ResponseModel):
    id: str
    tenant_id: str
    key: str = Field(description="The key itself; shown only in this response")
    created_at: str


class Revoked(ResponseModel):
    revoked: bool


class Health(ResponseModel):
    status: Literal["ok"]


# ----- compaction -----


class CompactRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"targetTokens": 2000, "preservePinned": True, "preserveRecent": 5}]}
    )

    target_tokens: Annotated[int, Field(ge=0, le=10_000_000)] | None = Field(
        default=None, description="Target active tokens after compaction; default 40 % of maxTokens"
    )
    preserve_pinned: bool = True
    preserve_recent: Annotated[int, Field(ge=0, le=10_000)] = 5


class CompactionJobOut(ResponseModel):
    id: str
    session_id: str
    status: Literal["queued", "running", "completed", "failed"]
    trigger: Literal["manual", "auto"]
    target_tokens: int | None = Field(description="Null until an automatic job starts and settles it")
    preserve_pinned: bool
    preserve_recent: int
    requested_at: str
    started_at: str | None
    completed_at: str | None
    previous_tokens: int | None
    new_tokens: int | None
    blocks_compacted: int | None
    summaries_created: int | None
    model_calls: int | None
    target_reached: bool | None
    reason: str | None
    error: dict[str, Any] | None


# ----- usage -----


class UsageOut(ResponseModel):
    tenant_id: str
    period: Literal["day", "month"]
    start: str = Field(description="The day (yyyy-mm-dd) or month (yyyy-mm), UTC")
    invocations: int
    input_tokens: int
    output_tokens: int
    context_tokens: int
    compactions: int
    stored_tokens: int
    api_calls: int


class QuotasIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"requestsPerSecond": 50, "tokensPerMonth": 1000000, "storedTokens": None}]}
    )

    requests_per_second: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None, description="null: the default"
    )
    tokens_per_month: Annotated[int, Field(ge=0)] | None = Field(default=None, description="null: unlimited")
    stored_tokens: Annotated[int, Field(ge=0)] | None = Field(default=None, description="null: unlimited")


class QuotasOut(ResponseModel):
    tenant_id: str
    requests_per_second: int | None
    tokens_per_month: int | None
    stored_tokens: int | None
