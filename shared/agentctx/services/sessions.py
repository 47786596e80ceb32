"""Sessions: create (optionally as a fork), read with metrics, list, fork by tag, delete (and purge)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentctx import ids, metering
from agentctx.domain import ForkCopy, ForkFilter, Listed, Page, RuntimeConfig, Session, TurnState, utc_now
from agentctx.errors import Busy, NotFound
from agentctx.pagination import CursorCodec
from agentctx.schemas.sessions import SessionCreate, SessionFork
from agentctx.services.blocks import listing_query
from agentctx.services.session_limits import SessionLimits
from agentctx.store.context_store import ContextStore
from agentctx.store.purge import PurgeOutcome
from agentctx.store.records import RecordKind
from agentctx.store.session_jobs import copy_job, purge_job

# A session shows the ids of at most this many of its blocks (and of its pinned blocks); the rest are paged
# through GET .../blocks from the cursor its `meta` gives.
MAX_LISTED_IDS = 1_000


@dataclass
class SessionView:
    """A session with the ids of its first active blocks and pinned blocks, in order; a cursor of the block
    listing for each list that was cut at MAX_LISTED_IDS."""

    session: Session
    block_ids: list[str]
    pinned_ids: list[str]
    blocks_cursor: str | None = None
    pinned_cursor: str | None = None


class SessionService:
    def __init__(
        self,
        store: ContextStore,
        cursors: CursorCodec,
        limits: SessionLimits,
        queue_job: Callable[[dict[str, Any], int], None],
        purge_write_units: int,
    ) -> None:
        self.store = store
        self.cursors = cursors
        self.limits = limits
        self.queue_job = queue_job
        self.purge_write_units = purge_write_units

    def load(self, tenant_id: str, session_id: str) -> Session:
        session_hex = ids.parse_session_id(session_id)
        session = self.store.sessions.get(tenant_id, session_hex) if session_hex else None
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
        self.store.sessions.create(session)
        return SessionView(session, [], [])

    def get(self, tenant_id: str, session_id: str) -> SessionView:
        """The session with the ids of its first MAX_LISTED_IDS blocks and pinned blocks: two Queries at most,
        whatever the session's size."""
        session = self.load(tenant_id, session_id)
        blocks = self.store.blocks.first_ids(tenant_id, session.hex, MAX_LISTED_IDS, copy=session.copy)
        pinned = Page[str]([], None)
        if session.pinned_count > 0 or session.copy is not None:
            pinned = self.store.blocks.first_ids(tenant_id, session.hex, MAX_LISTED_IDS, pinned=True, copy=session.copy)
        return SessionView(
            session,
            blocks.items,
            pinned.items,
            self._cursor(tenant_id, session.hex, blocks.next_after, pinned=None),
            self._cursor(tenant_id, session.hex, pinned.next_after, pinned=True),
        )

    def _cursor(self, tenant_id: str, session_hex: str, after: str | None, pinned: bool | None) -> str | None:
        """A cursor of GET .../blocks (with ?pinned=true for the pinned ones) that goes on after `after`."""
        if after is None:
            return None
        return self.cursors.encode(tenant_id, listing_query(session_hex, None, None, pinned, False), after)

    def list_page(
        self, tenant_id: str, tag: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Session], str | None]:
        query = f"sessions?tag={tag or ''}"
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        page: Page[Session] = self.store.sessions.list_page(tenant_id, tag, limit, after)
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
        turns: TurnState | None = None,
    ) -> SessionView:
        """A fork usable at once, whose kept blocks (same order keys, so the same order) are copied in the background
        and read through its source until they are: its request writes the fork with as many of them as one
        transaction holds, so a small source is copied before the answer, then queues the copy of the rest (the
        table's stream queues it too, should the request stop between the two). A runtime fork (`runtime`) gets
        its source's messages the same way, before its blocks, all in the background. A session with a turn running
        or queued, or still being copied itself, is not forked."""
        if source.busy:
            raise Busy(f"session {source.id} has a turn running or queued; fork it when it is idle", 5)
        if source.copy is not None:
            raise Busy(f"session {source.id} is still being copied from its source; fork it in a moment", 5)
        now = utc_now()
        fork = Session(
            tenant_id=source.tenant_id,
            hex=ids.new_hex(),
            name=name,
            default_agent=default_agent,
            tags=tags,
            forked_from=source.id,
            created_at=now,
            updated_at=now,
            runtime=runtime,
            copy=ForkCopy(source.hex, through=ids.new_order_key(), copied_through="", filter=fork_filter),
            turns=turns or TurnState(),
        )
        first = self.store.fork_copy.first_batch(fork)
        self.limits.apply(fork)
        self.store.sessions.create(fork, copied=first, source_hex=source.hex)
        metering.add(storedTokens=fork.total_tokens)
        if fork.copy is not None:
            self.queue_copy(fork.tenant_id, fork.hex, source.hex)
        return self.get(fork.tenant_id, fork.id)

    def queue_copy(self, tenant_id: str, fork_hex: str, source_hex: str) -> None:
        self.queue_job(copy_job(tenant_id, fork_hex, source_hex), 0)

    def copy(self, tenant_id: str, fork_hex: str, seconds: float) -> bool:
        """Copy a fork's blocks for `seconds`: True when nothing is left for this job (see ForkCopier.step). The
        tokens copied count as the tenant's stored tokens."""
        done, tokens = self.store.fork_copy.step(tenant_id, fork_hex, seconds, self.purge_write_units)
        metering.add(storedTokens=tokens)
        return done

    def list_records(
        self, tenant_id: str, session_id: str, kind: RecordKind, limit: int, cursor: str | None
    ) -> Listed[dict[str, Any]]:
        """A page of the session's JSON records of one kind (invocations, compaction jobs), newest first."""
        session = self.load(tenant_id, session_id)
        query = f"records?session={session.hex}&kind={kind}"
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        page = self.store.records.list_newest(tenant_id, session.hex, kind, limit, after)
        next_cursor = self.cursors.encode(tenant_id, query, page.next_after) if page.next_after else None
        return Listed(page.items, next_cursor, page.truncated_by_bytes)

    def delete(self, tenant_id: str, session_id: str) -> None:
        """Gone at once for every reader (one transaction), its items purged in the background. Deleting again
        answers 404, as for any session that is not there, but first queues the purge again if one is unfinished:
        a delete interrupted before its purge was queued is finished by its retry."""
        session_hex = ids.parse_session_id(session_id)
        session = self.store.sessions.get(tenant_id, session_hex) if session_hex else None
        if session_hex and session is None and self.store.sessions.purge_pending(tenant_id, session_hex):
            self.queue_purge(tenant_id, session_hex)
        if session is None:
            raise NotFound(f"session {session_id} not found")
        self.store.sessions.delete(session, utc_now())
        self.queue_purge(tenant_id, session.hex)

    def queue_purge(self, tenant_id: str, session_hex: str, delay: int = 0, waits: int = 0) -> None:
        self.queue_job(purge_job(tenant_id, session_hex, waits), delay)

    def purge(self, tenant_id: str, session_hex: str, seconds: float) -> PurgeOutcome:
        """Remove a deleted session's items until done or for `seconds`. Done, when its tokens are counted out of
        the tenant's storage; more items left; or waiting for a fork still copying from it."""
        if not self.store.sessions.purge_pending(tenant_id, session_hex):
            return PurgeOutcome.DONE
        outcome, tokens = self.store.purge.run(tenant_id, session_hex, seconds, self.purge_write_units)
        metering.add(storedTokens=-tokens)
        return outcome
