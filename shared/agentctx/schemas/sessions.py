"""AIP sessions at the edge: creating and forking one, and the session and its metrics as answered."""

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from agentctx.schemas.base import MAX_SESSION_TAGS, Meta, Name, RequestModel, ResponseModel, SessionIdIn, Tag


class SessionMeta(Meta):
    """When a session has more blocks (or pinned blocks) than it lists, says so and where the listing pages on."""

    blocks_truncated: bool = False
    blocks_next: str | None = Field(default=None, description="GET this for the blocks after those listed")
    pinned_blocks_truncated: bool = False
    pinned_blocks_next: str | None = Field(default=None, description="GET this for the pinned blocks after those")


class SessionEnvelope(ResponseModel):
    data: "SessionOut"
    meta: SessionMeta


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
