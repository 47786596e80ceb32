"""Context blocks: append one or a batch, read, list, change pinned/tags/importance, delete.

Every write counts the block's tokens and updates the session's metrics in the same DynamoDB transaction; for a
tenant with a storage quota an append also adds them to the tenant's stored tokens there, refused (Throttled) once
the quota is reached.
"""

from dataclasses import replace

from agentctx import ids, metering, payload
from agentctx.domain import Block, BlockType, Listed, utc_now
from agentctx.errors import Busy, NotFound
from agentctx.pagination import CursorCodec
from agentctx.schemas.blocks import BlockIn, BlockPatch
from agentctx.services.auto_compaction import AutoCompactionTrigger
from agentctx.services.block_builder import BlockBuilder
from agentctx.store.context_store import ContextStore
from agentctx.store.transactions import BlockMoved

CHANGE_ATTEMPTS = 5


def listing_query(
    session_hex: str, block_type: BlockType | None, tag: str | None, pinned: bool | None, include_compacted: bool
) -> str:
    """What a block listing's cursor is bound to: the session and the filters."""
    query = f"blocks?session={session_hex}&type={block_type or ''}&tag={tag or ''}&pinned={pinned}"
    return query + f"&compacted={include_compacted}"


class BlockService:
    def __init__(
        self,
        store: ContextStore,
        cursors: CursorCodec,
        builder: BlockBuilder,
        auto_compaction: AutoCompactionTrigger | None = None,
    ) -> None:
        self.store = store
        self.cursors = cursors
        self.builder = builder
        self.auto_compaction = auto_compaction

    def append(
        self, tenant_id: str, session_id: str, blocks_in: list[BlockIn], stored_quota: int | None = None
    ) -> list[Block]:
        """Append blocks in the order given, all or nothing; one transaction for up to 99 blocks. Throttled when the
        tenant's stored tokens have reached `stored_quota` (checked in the append's transaction, so exact)."""
        session_hex = self._session_hex(session_id)
        now = utc_now()
        blocks = [self.builder.build(session_hex, block_in, now) for block_in in blocks_in]
        auto = self.auto_compaction.plan(session_hex) if self.auto_compaction else None
        if (
            self.store.block_writes.append(tenant_id, session_hex, blocks, now, auto, stored_quota)
            and self.auto_compaction
            and auto
        ):
            self.auto_compaction.queued(tenant_id, session_hex, auto)
        stored = sum(block.token_count for block in blocks)
        metering.add(storedTokens=stored, storedTokensCounted=stored if stored_quota is not None else 0)
        return blocks

    def get(self, tenant_id: str, block_id: str) -> Block:
        parsed = ids.parse_block_id(block_id)
        block = self.store.blocks.get(tenant_id, *parsed) if parsed else None
        if block is None:
            raise NotFound(f"block {block_id} not found")
        return block

    def list_page(
        self,
        tenant_id: str,
        session_id: str,
        *,
        limit: int,
        cursor: str | None,
        include_content: bool,
        block_type: BlockType | None,
        tag: str | None,
        pinned: bool | None,
        include_compacted: bool = False,
    ) -> Listed[Block]:
        """A page of the session's blocks; with content, no more than fit the response's byte budget."""
        session_hex = self._session_hex(session_id)
        session = self.store.sessions.get(tenant_id, session_hex)
        if session is None:
            raise NotFound(f"session {session_id} not found")
        query = listing_query(session_hex, block_type, tag, pinned, include_compacted)
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        page = self.store.blocks.list_page(
            tenant_id,
            session_hex,
            limit=limit,
            after=after,
            with_content=include_content,
            block_type=block_type,
            tag=tag,
            pinned=pinned,
            include_compacted=include_compacted,
            copy=session.copy,
            max_bytes=payload.RESPONSE_BYTES_BUDGET,
        )
        next_cursor = self.cursors.encode(tenant_id, query, page.next_after) if page.next_after else None
        return Listed(page.items, next_cursor, page.truncated_by_bytes)

    def patch(self, tenant_id: str, block_id: str, patch: BlockPatch) -> Block:
        """Read, change, write back conditioned on what was read (the block's filter entries follow its pinned flag
        and tags), and again if another change came in between."""
        for attempt in range(CHANGE_ATTEMPTS):
            before = self.get(tenant_id, block_id)
            after = replace(before)
            if patch.pinned is not None:
                after.pinned = patch.pinned
            if patch.tags is not None:
                after.tags = patch.tags
            if patch.importance is not None:
                after.importance = patch.importance
            try:
                self.store.block_writes.update(tenant_id, before, after, utc_now())
                return after
            except BlockMoved:
                if attempt == CHANGE_ATTEMPTS - 1:
                    raise Busy(
                        f"block {block_id} keeps changing (or its fork is still copying it); try again"
                    ) from None
        raise AssertionError("unreachable")

    def delete(self, tenant_id: str, block_id: str) -> None:
        for attempt in range(CHANGE_ATTEMPTS):
            try:
                self.store.block_writes.delete(tenant_id, self.get(tenant_id, block_id), utc_now())
                return
            except BlockMoved:
                if attempt == CHANGE_ATTEMPTS - 1:
                    raise Busy(
                        f"block {block_id} keeps changing (or its fork is still copying it); try again"
                    ) from None

    @staticmethod
    def _session_hex(session_id: str) -> str:
        session_hex = ids.parse_session_id(session_id)
        if session_hex is None:
            raise NotFound(f"session {session_id} not found")
        return session_hex
