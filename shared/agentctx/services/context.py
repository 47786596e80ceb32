"""Context assembly under a token budget, and enrichment.

Selection: the explicit `blockIds`, then pinned blocks (when includePinned) and summaries, then the newest
blocks that match the tag filters, until the budget is full; the result is kept in session order. Pinned and
summary ids are kept on the session item, and the newest blocks are read from the content-free block index
page by page, stopping at the first block that no longer fits: the work grows with the budget, not with the
session. Content is then read for the chosen blocks only.

Enrichment (the AIP pages name it but never define it):
- `none`: the selection only.
- `manual`: adds what enrichmentConfig names: with includePreferences, the tenant's preference blocks (the
  blocks of its newest session tagged `preferences`), newest first, up to enrichmentConfig.maxTokens.
- `auto`: also ranks the session's blocks that the selection left out (the newest `ENRICHMENT_CANDIDATES` of
  them) by BM25 relevance to the prompt blended with recency (recencyBias 0 = relevance only, 1 = recency
  only), and adds the best that fit enrichmentConfig.maxTokens.
"""

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain

from agentctx import ids
from agentctx.domain import Block, Session, render_block_text
from agentctx.errors import InvalidRequest
from agentctx.store.context_store import ContextStore

PAGE_SIZE = 100
PREFERENCES_TAG = "preferences"
_WORD = re.compile(r"\w+", re.UNICODE)


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
    def __init__(self, store: ContextStore, enrichment_candidates: int) -> None:
        self.store = store
        self.enrichment_candidates = enrichment_candidates

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
        limit = _Budget(min(budget, selection.max_tokens) if selection.max_tokens else budget)
        chosen: dict[str, Block] = {}

        for block in self._priority_blocks(session, selection):
            if limit.take(block.token_count):
                chosen[block.order_key] = block

        newest = self.store.newest_block_meta(tenant, session_hex, PAGE_SIZE)
        recent: list[str] = []
        for meta in newest:
            if meta.order_key in chosen or not selection.matches(meta):
                continue
            if not limit.take(meta.token_count):
                newest = chain([meta], newest)  # the first block that did not fit is still a candidate
                break
            recent.append(meta.order_key)
        for block in self.store.get_blocks(tenant, session_hex, recent):
            chosen[block.order_key] = block

        enriched: list[Block] = []
        if enrichment is not Enrichment.NONE:
            config = enrichment_config or EnrichmentConfig()
            room = _Budget(min(config.max_tokens, budget - limit.used))
            if config.include_preferences:
                enriched += self._preferences(session, room, exclude=set(chosen))
            if enrichment is Enrichment.AUTO:
                left_out = (meta for meta in newest if meta.order_key not in chosen)
                enriched += self._ranked(session, left_out, prompt, config.recency_bias, room)
            limit.used += room.used
        blocks = sorted(chosen.values(), key=lambda block: block.order_key) + enriched
        return AssembledContext(blocks, limit.used, budget, [block.id for block in enriched])

    def _priority_blocks(self, session: Session, selection: Selection) -> list[Block]:
        """Explicit ids first, then pinned blocks and summaries (newest first), read with their content."""
        explicit = []
        for block_id in selection.block_ids:
            parsed = ids.parse_block_id(block_id)
            if parsed is None or parsed[0] != session.hex:
                raise InvalidRequest(f"block {block_id} is not in session {session.id}")
            explicit.append(parsed[1])
        kept = set(session.summary_block_ids) | (set(session.pinned_block_ids) if selection.include_pinned else set())
        implicit = sorted((block_id[-26:] for block_id in kept), reverse=True)
        wanted = list(dict.fromkeys(explicit + implicit))
        by_key = {block.order_key: block for block in self.store.get_blocks(session.tenant_id, session.hex, wanted)}
        missing = [key for key in explicit if key not in by_key]
        if missing:
            raise InvalidRequest(f"block {ids.block_id(session.hex, missing[0])} is not in session {session.id}")
        explicit_set = set(explicit)
        return [
            by_key[key]
            for key in wanted
            if key in by_key
            and not by_key[key].compacted
            and (
                key in explicit_set
                or not (selection.exclude_by_tag and set(by_key[key].tags) & set(selection.exclude_by_tag))
            )
        ]

    def _preferences(self, session: Session, room: _Budget, exclude: set[str]) -> list[Block]:
        sessions = self.store.list_sessions(session.tenant_id, PREFERENCES_TAG, 1, None).items
        if not sessions:
            return []
        preferences = sessions[0]
        wanted = []
        for meta in self.store.newest_block_meta(preferences.tenant_id, preferences.hex, PAGE_SIZE):
            if preferences.hex == session.hex and meta.order_key in exclude:
                continue
            if not room.take(meta.token_count):
                break
            wanted.append(meta.order_key)
        return self.store.get_blocks(preferences.tenant_id, preferences.hex, wanted)

    def _ranked(
        self, session: Session, left_out: Iterator[Block], prompt: str, recency_bias: float, room: _Budget
    ) -> list[Block]:
        candidates_meta = [meta for _, meta in zip(range(self.enrichment_candidates), left_out, strict=False)]
        if not candidates_meta:
            return []
        candidates = self.store.get_blocks(session.tenant_id, session.hex, [meta.order_key for meta in candidates_meta])
        newest_first = sorted(candidates, key=lambda block: block.order_key, reverse=True)
        relevance = bm25_scores(prompt, [block_text(block) for block in newest_first])
        top = max(relevance) or 1.0
        count = len(newest_first)
        scored = [
            ((1 - recency_bias) * (score / top) + recency_bias * (1 - rank / count), block)
            for rank, (score, block) in enumerate(zip(relevance, newest_first, strict=True))
        ]
        scored.sort(key=lambda pair: pair[0], reverse=True)
        picked = [block for score, block in scored if score > 0 and room.take(block.token_count)]
        return sorted(picked, key=lambda block: block.order_key)


def block_text(block: Block) -> str:
    return render_block_text(block.type, block.content)


def bm25_scores(query: str, documents: list[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 of each document for the query's words (lower-cased \\w+ tokens)."""
    terms = set(_WORD.findall(query.lower()))
    tokenised = [_WORD.findall(document.lower()) for document in documents]
    if not terms or not tokenised:
        return [0.0] * len(documents)
    average = sum(len(words) for words in tokenised) / len(tokenised) or 1.0
    frequency = Counter(term for words in tokenised for term in set(words) & terms)
    total = len(tokenised)
    scores = []
    for words in tokenised:
        counts = Counter(words)
        score = 0.0
        for term in terms:
            if counts[term]:
                idf = math.log(1 + (total - frequency[term] + 0.5) / (frequency[term] + 0.5))
                score += idf * counts[term] * (k1 + 1) / (counts[term] + k1 * (1 - b + b * len(words) / average))
        scores.append(score)
    return scores
