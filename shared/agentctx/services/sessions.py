"""Sessions: create (optionally as a fork), read with metrics, list, fork by tag, delete."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from agentctx import ids
from agentctx.domain import Block, BlockType, Page, RuntimeConfig, Session, TurnState, utc_now
from agentctx.errors import Conflict, NotFound
from agentctx.pagination import CursorCodec
from agentctx.schemas import SessionCreate, SessionFork
from agentctx.store.context_store import ContextStore, session_pk


@dataclass
class SessionView:
    """A session with the ids of its active blocks, in order."""

    session: Session
    block_ids: list[str]


@dataclass
class ForkFilter:
    include_by_tag: list[str] | None
    exclude_by_tag: list[str] | None
    include_pinned: bool
    include_summaries: bool

    def keeps(self, block: Block) -> bool:
        """Pinned blocks (when includePinned) and summaries (when includeSummaries) are kept whatever their tags;
        any other block needs one of includeByTag (when given) and none of excludeByTag."""
        if block.type is BlockType.SUMMARY and not self.include_summaries:
            return False
        if (block.pinned and self.include_pinned) or block.type is BlockType.SUMMARY:
            return True
        if self.include_by_tag is not None and not set(block.tags) & set(self.include_by_tag):
            return False
        return not (self.exclude_by_tag and set(block.tags) & set(self.exclude_by_tag))


@dataclass
class SessionLimits:
    """How big a session may get: its agent model's context window, and when automatic compaction starts."""

    max_tokens_for: Callable[[str, str | None], int]
    auto_compaction_share: float

    def apply(self, session: Session, context_window: int | None = None) -> None:
        """Size the session for its agent's model; a caller that has the model already gives its window."""
        session.max_tokens = context_window or self.max_tokens_for(session.tenant_id, session.default_agent)
        session.auto_headroom = int(session.max_tokens * self.auto_compaction_share) - session.total_tokens


class SessionService:
    def __init__(self, store: ContextStore, cursors: CursorCodec, limits: SessionLimits) -> None:
        self.store = store
        self.cursors = cursors
        self.limits = limits

    def load(self, tenant_id: str, session_id: str) -> Session:
        session_hex = ids.parse_session_id(session_id)
        session = self.store.get_session(tenant_id, session_hex) if session_hex else None
        if session is None:
            raise NotFound(f"session {session_id} not found")
        return session

    def create(self, tenant_id: str, request: SessionCreate) -> SessionView:
        if request.from_session is not None:
            source = self.load(tenant_id, request.from_session)
            fork_filter = ForkFilter(request.include_by_tag, None, request.include_pinned, include_summaries=True)
            return self.fork_session(source, request.name, request.default_agent, request.tags, fork_filter)
        now = utc_now()
        session = Session(
            tenant_id=tenant_id,
            hex=ids.new_hex(),
            name=request.name,
            default_agent=request.default_agent,
            tags=request.tags,
            created_at=now,
            updated_at=now,
        )
        self.limits.apply(session)
        self.store.create_session(session, [])
        return SessionView(session, [])

    def get(self, tenant_id: str, session_id: str) -> SessionView:
        session = self.load(tenant_id, session_id)
        return SessionView(session, self.store.block_ids(tenant_id, session.hex))

    def list_page(
        self, tenant_id: str, tag: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Session], str | None]:
        query = f"sessions?tag={tag or ''}"
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        page: Page[Session] = self.store.list_sessions(tenant_id, tag, limit, after)
        next_cursor = self.cursors.encode(tenant_id, query, page.next_after) if page.next_after else None
        return page.items, next_cursor

    def fork(self, tenant_id: str, session_id: str, request: SessionFork) -> SessionView:
        source = self.load(tenant_id, session_id)
        fork_filter = ForkFilter(
            request.include_by_tag, request.exclude_by_tag, request.include_pinned, request.include_summaries
        )
        return self.fork_session(source, request.name, source.default_agent, source.tags, fork_filter)

    def fork_session(
        self,
        source: Session,
        name: str,
        default_agent: str | None,
        tags: list[str],
        fork_filter: ForkFilter,
        runtime: RuntimeConfig | None = None,
        copy_items: Callable[[str, str], list[dict[str, Any]]] | None = None,
        turns: TurnState | None = None,
    ) -> SessionView:
        """Copy the kept blocks (same order keys, so the same order) and take the metrics from what was copied;
        `copy_items(fork pk, fork hex)` gives other items to copy (a runtime session's messages). A session with a
        turn running or queued is not forked: its history is still being written."""
        if source.busy:
            raise Conflict(f"session {source.id} has a turn running or queued; fork it when it is idle")
        now = utc_now()
        fork_hex = ids.new_hex()
        copies = [
            replace(block, session_hex=fork_hex)
            for block in self.store.read_all_blocks(source.tenant_id, source.hex)
            if fork_filter.keeps(block)
        ]
        fork = Session(
            tenant_id=source.tenant_id,
            hex=fork_hex,
            name=name,
            default_agent=default_agent,
            tags=tags,
            total_tokens=sum(block.token_count for block in copies),
            block_count=len(copies),
            pinned_block_ids={block.id for block in copies if block.pinned},
            summary_block_ids={block.id for block in copies if block.type is BlockType.SUMMARY},
            forked_from=source.id,
            created_at=now,
            updated_at=now,
            runtime=runtime,
            turns=turns or TurnState(),
        )
        self.limits.apply(fork)
        extra = copy_items(session_pk(source.tenant_id, fork_hex), fork_hex) if copy_items else None
        self.store.create_session(fork, copies, extra)
        return SessionView(fork, [block.id for block in copies])

    def list_records(
        self, tenant_id: str, session_id: str, prefix: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the session's JSON records of one kind (invocations, compaction jobs), newest first."""
        session = self.load(tenant_id, session_id)
        query = f"records?session={session.hex}&kind={prefix}"
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        page = self.store.list_records(tenant_id, session.hex, prefix, limit, after)
        return page.items, self.cursors.encode(tenant_id, query, page.next_after) if page.next_after else None

    def delete(self, tenant_id: str, session_id: str) -> None:
        self.store.delete_session(self.load(tenant_id, session_id))
