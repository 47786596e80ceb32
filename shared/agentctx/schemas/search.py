"""`POST /v1/aip/search` at the edge: the query as the AIP pages give it, and its answer."""

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from agentctx.domain import BlockType
from agentctx.schemas.base import Meta, RequestModel, ResponseModel, SessionIdIn, Tag

MAX_FILTER_VALUES = 20


class SearchRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"query": "why did the deploy fail", "types": ["note", "tool_result"], "limit": 5}]
        }
    )

    query: Annotated[str, StringConstraints(min_length=1, max_length=2_000, strip_whitespace=True)] = Field(
        description="What to find: words, an identifier, an error string, or a question in your own words"
    )
    sessions: list[SessionIdIn] | None = Field(
        default=None,
        max_length=MAX_FILTER_VALUES,
        description="Only these sessions (each must exist: 404 otherwise). Default: every session of the tenant",
    )
    tags: list[Tag] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="Only blocks with at least one of these tags"
    )
    types: list[BlockType] | None = Field(
        default=None, max_length=len(BlockType), description="Only blocks of these types"
    )
    limit: int = Field(default=10, ge=1, le=50, description="At most this many results, best first")
    threshold: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="Results scoring below this are left out: 0.9 and above is highly relevant, 0.7 relevant "
        "(docs/search.md says how scores are calibrated)",
    )
    include_compacted: bool = Field(
        default=True,
        description="Also search the originals that compaction summarised (each says which summary covers it)",
    )


class SearchScores(ResponseModel):
    lexical: float = Field(description="The share of the query's rare terms the block holds, in [0, 1]")
    semantic: float = Field(description="Calibrated embedding similarity in [0, 1]; 0 when search is lexical only")


class SearchResult(ResponseModel):
    block_id: str
    session_id: str
    session_name: str
    type: BlockType
    score: float = Field(description="Relevance in [0, 1]: the two scores fused (docs/search.md)")
    snippet: str = Field(description="About 240 characters of the block around the best match")
    tags: list[str]
    created_at: str
    compacted: bool = Field(description="A compaction summarised this block; it is no longer in the active context")
    covered_by: str | None = Field(default=None, description="The summary block that covers this block, if any")
    scores: SearchScores


class SearchResults(ResponseModel):
    results: list[SearchResult]
    total_matches: int = Field(description="Blocks at or above the threshold among the candidates examined")
    search_time: int = Field(description="Milliseconds the search took in the service")


class SearchMeta(Meta):
    search_mode: str = Field(description="`hybrid`, or `lexical` when no embedder or vector index answered")
    degraded: str | None = Field(default=None, description="Why the search was lexical only")
