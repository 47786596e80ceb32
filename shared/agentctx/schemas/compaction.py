"""Compaction at the edge: a request to compact a session, and the job as answered."""

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from agentctx.schemas.base import RequestModel, ResponseModel


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
