"""AIP blocks at the edge: their content, checked against the block's type, and the block as answered."""

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator

from agentctx.domain import BlockType
from agentctx.schemas.base import RequestModel, ResponseModel, SessionIdIn, Tag
from agentctx.schemas.limits import ContentJson

MAX_BLOCK_TAGS = 50
MAX_BATCH_BLOCKS = 100


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
