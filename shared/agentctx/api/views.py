"""Maps domain records to response models."""

from typing import TYPE_CHECKING

from agentctx.domain import Block, Session
from agentctx.ids import SESSION_PREFIX
from agentctx.schemas.blocks import BlockMetadata, BlockOut
from agentctx.schemas.sessions import SessionListItem, SessionMeta, SessionMetrics, SessionOut
from agentctx.services.sessions import SessionView

if TYPE_CHECKING:  # search's models and service load with the routes that search, not with every function
    from agentctx.schemas.search import SearchResults
    from agentctx.services.search import SearchOutcome


def metrics_out(session: Session) -> SessionMetrics:
    max_tokens = session.max_tokens
    return SessionMetrics(
        total_tokens=session.total_tokens,
        max_tokens=max_tokens,
        tokens_remaining_pct=round(max(0.0, (max_tokens - session.total_tokens) * 100 / max_tokens), 1),
        compaction_count=session.compaction_count,
        block_count=session.block_count,
        invocation_count=session.invocation_count,
    )


def session_list_item(session: Session) -> SessionListItem:
    return SessionListItem(
        id=session.id,
        name=session.name,
        default_agent=session.default_agent,
        tags=session.tags,
        metrics=metrics_out(session),
        forked_from=session.forked_from,
        created_at=session.created_at,
        updated_at=session.updated_at,
    )


def session_out(view: SessionView) -> SessionOut:
    return SessionOut(**dict(session_list_item(view.session)), blocks=view.block_ids, pinned_blocks=view.pinned_ids)


def session_meta(view: SessionView, request_id: str) -> SessionMeta:
    """The request id, and for a list of ids cut short, where GET .../blocks pages on from."""
    path = f"/v1/aip/sessions/{view.session.id}/blocks"
    return SessionMeta(
        request_id=request_id,
        blocks_truncated=view.blocks_cursor is not None,
        blocks_next=f"{path}?cursor={view.blocks_cursor}" if view.blocks_cursor else None,
        pinned_blocks_truncated=view.pinned_cursor is not None,
        pinned_blocks_next=f"{path}?pinned=true&cursor={view.pinned_cursor}" if view.pinned_cursor else None,
    )


def block_out(block: Block, include_content: bool = True) -> BlockOut:
    return BlockOut(
        id=block.id,
        session_id=SESSION_PREFIX + block.session_hex,
        type=block.type,
        content=block.content if include_content else None,
        metadata=BlockMetadata(
            token_count=block.token_count,
            tags=block.tags,
            pinned=block.pinned,
            importance=block.importance,
            compaction_level=block.compaction_level,
            compacted=block.compacted or None,
            compacted_by=block.compacted_by,
            summary_of=block.summary_of,
        ),
        created_at=block.created_at,
    )


def search_results(outcome: "SearchOutcome") -> "SearchResults":
    from agentctx.schemas.search import SearchResult, SearchResults, SearchScores

    return SearchResults(
        results=[
            SearchResult(
                block_id=hit.block.id,
                session_id=hit.session.id,
                session_name=hit.session.name,
                type=hit.block.type,
                score=hit.score,
                snippet=hit.snippet,
                tags=hit.block.tags,
                created_at=hit.block.created_at,
                compacted=hit.block.compacted,
                covered_by=hit.covered_by,
                scores=SearchScores(lexical=hit.lexical, semantic=hit.semantic),
            )
            for hit in outcome.hits
        ],
        total_matches=outcome.total_matches,
        search_time=outcome.took_ms,
    )
