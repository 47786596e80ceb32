"""Context assembly under a token budget, and enrichment.

Selection: the explicit `blockIds`, then pinned blocks (when includePinned) and summaries, newest first, then
the newest blocks that match the tag filters, until the budget is full; the result is kept in session order.
Everything but the explicit blocks is chosen from metadata alone: pinned blocks, summaries and (with
includeByTag) tagged blocks through their filter entries, other blocks from the content-free block index, page
by page, each stream stopping at the first block that no longer fits: the work grows with the budget, not with
the session. Content is then read for the chosen blocks only.

Enrichment (the AIP pages name it but never define it):
- `none`: the selection only.
- `manual`: adds what enrichmentConfig names: with includePreferences, the tenant's preference blocks (the
  blocks of its newest session tagged `preferences`), newest first, up to enrichmentConfig.maxTokens.
- `auto`: also searches the whole session for the prompt (hybrid search, compacted originals included: see
  services/search.py), takes the hits the selection left out that score at least ENRICHMENT_THRESHOLD, ranks
  them by that score blended with recency (recencyBias 0 = relevance only, 1 = recency only), and adds the best
  that fit enrichmentConfig.maxTokens. They are rendered after the stable context and the history, with the
  prompt, so the cached prefix does not move.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from agentctx import ids
from agentctx.domain import Block, Session
from agentctx.errors import InvalidRequest
from agentctx.services.search import SearchQuery, SearchService
from agentctx.store.context_store import ContextStore

PAGE_SIZE = 100
# Enrichment auto: how many search hits it weighs, the score a hit needs (relevant or nearly: docs/search.md), and
# how much of the prompt is the query.
ENRICHMENT_CANDIDATES = 30
ENRICHMENT_THRESHOLD = 0.5
MAX_QUERY_CHARS = 2_000
PREFERENCES_TAG = "preferences"


class Enrichment(StrEnum):
    NONE = "none"
    MANUAL = "manual"
    AUTO = "auto"


@dataclass
class Selection:
    block_ids: list[str] = field(default_factory=list)
    include_by_tag: list[str] | None = None
    exclude_by_tag: list[str] | None = None
    include_pinned: bool = True
    max_tokens: int | None = None

    def matches(self, block: Block) -> bool:
        if self.exclude_by_tag and set(block.tags) & set(self.exclude_by_tag):
            return False
        return not self.include_by_tag or bool(set(block.tags) & set(self.include_by_tag))


@dataclass
class EnrichmentConfig:
    include_preferences: bool = False
    recency_bias: float = 0.3
    max_tokens: int = 4_000


@dataclass
class AssembledContext:
    blocks: list[Block]
    token_count: int
    budget: int
    enriched_ids: list[str] = field(default_factory=list)

    @property
    def block_ids(self) -> list[str]:
        return [block.id for block in self.blocks]

    @property
    def selected(self) -> list[Block]:
        """The blocks chosen from the session, in session order: what is rendered before the history ends."""
        return [block for block in self.blocks if block.id not in self.enriched_ids]

    @property
    def enriched(self) -> list[Block]:
        """The blocks enrichment added for this request: rendered after the history, with the new message."""
        return [block for block in self.blocks if block.id in self.enriched_ids]


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, tokens: int) -> bool:
        if self.used + tokens > self.limit:
            return False
        self.used += tokens
        return True


class ContextAssembler:
    def __init__(self, store: ContextStore, search: SearchService | None) -> None:
        self.store = store
        self.search = search

    def assemble(
        self,
        session: Session,
        selection: Selection,
        budget: int,
        *,
        prompt: str = "",
        enrichment: Enrichment = Enrichment.NONE,
        enrichment_config: EnrichmentConfig | None = None,
    ) -> AssembledContext:
        tenant, session_hex = session.tenant_id, session.hex
        ceiling = min(budget, selection.max_tokens) if selection.max_tokens else budget
        config = enrichment_config or EnrichmentConfig()
        # Everything assembled fits the ceiling: enrichment keeps its own maxTokens (at most a quarter of the ceiling)
        # while the selection is made, then takes what is left, up to its maxTokens.
        reserved = min(config.max_tokens, ceiling // 4) if enrichment is not Enrichment.NONE else 0
        limit = _Budget(ceiling - reserved)
        chosen: dict[str, Block] = {}

        for block in self._explicit_blocks(session, selection):
            if limit.take(block.token_count):
                chosen[block.order_key] = block

        wanted: list[str] = []
        for meta in self._priority_meta(session, selection):
            if meta.order_key in chosen or _excluded(meta, selection):
                continue
            if not limit.take(meta.token_count):
                break
            wanted.append(meta.order_key)

        newest = self._newest_meta(session, selection)
        older_than = session.total_tokens  # tokens of the session's blocks older than the one walked
        walked: list[tuple[int, Block]] = []
        dropped: list[Block] = []
        for meta in newest:
            older_than -= meta.token_count
            if meta.order_key in chosen or meta.order_key in wanted or not selection.matches(meta):
                continue
            if not limit.take(meta.token_count):
                dropped = self._in_steps(session, selection, walked, limit)
                break
            wanted.append(meta.order_key)
            walked.append((older_than, meta))
        if dropped:
            gone = {meta.order_key for meta in dropped}
            wanted = [key for key in wanted if key not in gone]
        for block in self.store.blocks.get_many(tenant, session_hex, wanted, session.copy):
            chosen[block.order_key] = block

        enriched: list[Block] = []
        if enrichment is not Enrichment.NONE:
            room = _Budget(min(config.max_tokens, ceiling - limit.used))
            if config.include_preferences:
                enriched += self._preferences(session, room, exclude=set(chosen))
            if enrichment is Enrichment.AUTO:
                enriched += self._recalled(session, chosen, prompt, config.recency_bias, room)
            limit.used += room.used
        blocks = sorted(chosen.values(), key=lambda block: block.order_key) + enriched
        return AssembledContext(blocks, limit.used, budget, [block.id for block in enriched])

    @staticmethod
    def _in_steps(
        session: Session, selection: Selection, walked: list[tuple[int, Block]], limit: _Budget
    ) -> list[Block]:
        """When the session's newest blocks overflow the budget, the oldest of them leave in steps of a quarter of
        the budget, not one a turn: the window starts at a multiple of the step in the session's token positions
        (tokens before a block; appending leaves them as they are), so the rendered prefix stays the same until
        the session has grown by a step. Without includeByTag, and once a fork's blocks are all its own."""
        if not walked or selection.include_by_tag or session.copy is not None:
            return []
        step = max(1, limit.limit // 4)
        start = -(-walked[-1][0] // step) * step
        dropped = [meta for position, meta in walked if position < start]
        limit.used -= sum(meta.token_count for meta in dropped)
        return dropped

    def _explicit_blocks(self, session: Session, selection: Selection) -> list[Block]:
        """The blocks `blockIds` names, in the order given, read with their content; all must be in the session."""
        explicit = []
        for block_id in selection.block_ids:
            parsed = ids.parse_block_id(block_id)
            if parsed is None or parsed[0] != session.hex:
                raise InvalidRequest(f"block {block_id} is not in session {session.id}")
            explicit.append(parsed[1])
        explicit = list(dict.fromkeys(explicit))
        found = self.store.blocks.get_many(session.tenant_id, session.hex, explicit, session.copy)
        by_key = {block.order_key: block for block in found}
        missing = [key for key in explicit if key not in by_key]
        if missing:
            raise InvalidRequest(f"block {ids.block_id(session.hex, missing[0])} is not in session {session.id}")
        return [by_key[key] for key in explicit if not by_key[key].compacted]

    def _priority_meta(self, session: Session, selection: Selection) -> Iterator[Block]:
        """Pinned blocks (with includePinned) and summaries, newest first, without content: read through their
        filter entries, and not at all when the session's counts say it has none (a fork still being copied counts
        only what is copied so far, so it always looks)."""
        copying = session.copy is not None
        summaries = session.summary_count > 0 or copying
        pinned = selection.include_pinned and (session.pinned_count > 0 or copying)
        if not summaries and not pinned:
            return iter(())
        return self.store.blocks.newest_marked(
            session.tenant_id, session.hex, PAGE_SIZE, pinned=pinned, summaries=summaries, copy=session.copy
        )

    def _newest_meta(self, session: Session, selection: Selection) -> Iterator[Block]:
        """Candidates for the rest of the budget, newest first, without content: with includeByTag, only blocks
        with one of those tags (through their entries), else every active block."""
        if selection.include_by_tag:
            return self.store.blocks.newest_marked(
                session.tenant_id, session.hex, PAGE_SIZE, tags=selection.include_by_tag, copy=session.copy
            )
        return self.store.blocks.newest(session.tenant_id, session.hex, PAGE_SIZE, session.copy)

    def _preferences(self, session: Session, room: _Budget, exclude: set[str]) -> list[Block]:
        sessions = self.store.sessions.list_page(session.tenant_id, PREFERENCES_TAG, 1, None).items
        if not sessions:
            return []
        preferences = sessions[0]
        wanted = []
        for meta in self.store.blocks.newest(preferences.tenant_id, preferences.hex, PAGE_SIZE, preferences.copy):
            if preferences.hex == session.hex and meta.order_key in exclude:
                continue
            if not room.take(meta.token_count):
                break
            wanted.append(meta.order_key)
        return self.store.blocks.get_many(preferences.tenant_id, preferences.hex, wanted, preferences.copy)

    def _recalled(
        self, session: Session, chosen: dict[str, Block], prompt: str, recency_bias: float, room: _Budget
    ) -> list[Block]:
        if self.search is None or not prompt.strip():
            return []
        query = SearchQuery(
            prompt[:MAX_QUERY_CHARS],
            [session.id],
            limit=ENRICHMENT_CANDIDATES,
            threshold=ENRICHMENT_THRESHOLD,
            include_compacted=True,
        )
        hits = [hit for hit in self.search.search(session.tenant_id, query).hits if hit.block.order_key not in chosen]
        newest_first = sorted(hits, key=lambda hit: hit.block.order_key, reverse=True)
        count = len(newest_first)
        scored = [
            ((1 - recency_bias) * hit.score + recency_bias * (1 - rank / count), hit.block)
            for rank, hit in enumerate(newest_first)
        ]
        scored.sort(key=lambda pair: (-pair[0], pair[1].order_key))
        picked = [block for _, block in scored if room.take(block.token_count)]
        return sorted(picked, key=lambda block: block.order_key)


def _excluded(block: Block, selection: Selection) -> bool:
    return bool(selection.exclude_by_tag and set(block.tags) & set(selection.exclude_by_tag))
