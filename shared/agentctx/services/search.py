"""Hybrid search over a tenant's blocks: lexical (BM25 over the SearchTable's postings) and semantic (embeddings in
S3 Vectors), fused into one calibrated score (docs/search.md).

Scores, each in [0, 1]:
- lexical: the share of the query's information (its terms' idf) that the block holds, each matched term counted
  at 0.85 plus 0.15 times its BM25 saturation in the block: 0.7 means the block holds the terms that carry 70 % of
  what is rare in the query.
- semantic: the cosine similarity of the block's and the query's embeddings, mapped linearly from the embedder's
  floor (unrelated text) to its ceiling (a paraphrase), measured on the labelled benchmark set.
- fused: the stronger signal, plus half the weaker one's share of what is left (`max + 0.5 * min * (1 - max)`): two
  signals that agree count for more than either, and one alone is never discounted.

The work is bounded whatever the tenant's size: one Query per query term (at most 12), one embedding and one vector
query, then one read of the sessions and of the blocks shown.
"""

import logging
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from agentctx import ids
from agentctx.domain import Block, Session, render_block_text
from agentctx.errors import NotFound
from agentctx.providers.embeddings import Embedder, EmbeddingUnavailable
from agentctx.schemas.search import SearchRequest
from agentctx.store.context_store import ContextStore
from agentctx.store.search_index import LexicalIndex, LexicalResult, terms
from agentctx.store.vectors import VectorStore

logger = logging.getLogger(__name__)

MAX_QUERY_TERMS = 12
# Semantic candidates asked of the vector index (its most); a candidate only one side found scores 0 on the other.
VECTOR_TOP_K = 100
SNIPPET_CHARS = 240
MATCHED_WEIGHT = 0.85

BlockRef = tuple[str, str]  # (session hex, order key)


@dataclass
class SearchQuery:
    text: str
    session_ids: list[str] | None = None
    tags: list[str] | None = None
    types: list[str] | None = None
    limit: int = 10
    threshold: float = 0.7
    include_compacted: bool = True
    # Which sides rank: both in the product; one alone to measure what each finds (make bench).
    sides: frozenset[str] = frozenset({"lexical", "semantic"})


def query_from(body: SearchRequest) -> SearchQuery:
    """The service's query for a request of either surface (REST or the MCP tool)."""
    return SearchQuery(
        text=body.query,
        session_ids=body.sessions,
        tags=body.tags,
        types=[block_type.value for block_type in body.types] if body.types else None,
        limit=body.limit,
        threshold=body.threshold,
        include_compacted=body.include_compacted,
    )


@dataclass
class SearchHit:
    block: Block
    session: Session
    score: float
    lexical: float
    semantic: float
    snippet: str

    @property
    def covered_by(self) -> str | None:
        """The summary that replaced this block, when compaction did."""
        return self.block.compacted_by if self.block.compacted else None


@dataclass
class SearchOutcome:
    hits: list[SearchHit]
    total_matches: int
    took_ms: int
    # "hybrid", or "lexical" when no embedder or vector store answered (and why, in `degraded`).
    mode: str
    degraded: str | None = None


@dataclass
class _Candidate:
    lexical: float = 0.0
    semantic: float | None = None

    @property
    def score(self) -> float:
        semantic = self.semantic or 0.0
        high, low = max(self.lexical, semantic), min(self.lexical, semantic)
        return high + 0.5 * low * (1 - high)


@dataclass
class _Scored:
    candidates: dict[BlockRef, _Candidate] = field(default_factory=dict)
    mode: str = "hybrid"
    degraded: str | None = None


def idf(docs: int, df: float) -> float:
    total = max(docs, df)
    return math.log(1 + (total - df + 0.5) / (df + 0.5))


def document_frequency(term: str, result: LexicalResult) -> float:
    """How many blocks hold the term: counted when all its postings were read; for a term cut at the postings a
    search reads (a common one), the geometric mean of that cut and the blocks indexed, an estimate between the
    bounds that keeps a common term's weight low without reading its whole list."""
    read = result.df.get(term, 0)
    return math.sqrt(read * max(result.docs, read)) if term in result.truncated else read


def lexical_scores(query_terms: list[str], result: LexicalResult) -> dict[BlockRef, float]:
    weights = {term: idf(result.docs, document_frequency(term, result)) for term in query_terms}
    total = sum(weights.values())
    if not total:
        return {}
    return {
        ref: min(1.0, sum(weights[t] * (MATCHED_WEIGHT + (1 - MATCHED_WEIGHT) * i) for t, i in impacts.items()) / total)
        for ref, impacts in result.postings.items()
    }


class SearchService:
    def __init__(
        self,
        store: ContextStore,
        lexical: LexicalIndex,
        embedder: Callable[[], Embedder | None],
        vectors: VectorStore | None,
    ) -> None:
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.vectors = vectors

    def search(self, tenant_id: str, query: SearchQuery) -> SearchOutcome:
        started = time.perf_counter()
        sessions = self._named_sessions(tenant_id, query.session_ids)
        query_terms = list(dict.fromkeys(terms(query.text)))[:MAX_QUERY_TERMS]
        scored = self._scored(tenant_id, query, query_terms, sorted(sessions) or None)
        ranked = sorted(scored.candidates.items(), key=lambda pair: (-pair[1].score, pair[0]))
        matching = [(ref, candidate) for ref, candidate in ranked if candidate.score >= query.threshold]
        hits = self._hits(tenant_id, query, query_terms, matching, sessions)
        took = round((time.perf_counter() - started) * 1000)
        return SearchOutcome(hits, len(matching), took, scored.mode, scored.degraded)

    def _named_sessions(self, tenant_id: str, session_ids: list[str] | None) -> dict[str, Session]:
        """The sessions a query names, all of which must be the tenant's and not deleted (404 as anywhere else)."""
        if not session_ids:
            return {}
        hexes = {session_id: ids.parse_session_id(session_id) for session_id in session_ids}
        found = {
            session.hex: session
            for session in self.store.sessions.get_many(tenant_id, [hex_ for hex_ in hexes.values() if hex_])
        }
        for session_id, session_hex in hexes.items():
            if session_hex not in found:
                raise NotFound(f"session {session_id} not found")
        return found

    def _scored(
        self, tenant_id: str, query: SearchQuery, query_terms: list[str], session_hexes: list[str] | None
    ) -> _Scored:
        """Both sides at once: the lexical Queries and the embedding with its vector query."""
        scored = _Scored()
        lexical_terms = query_terms if "lexical" in query.sides else []
        with ThreadPoolExecutor(max_workers=2) as pool:
            lexical = pool.submit(self.lexical.search, tenant_id, lexical_terms, session_hexes, query.types, query.tags)
            semantic = pool.submit(self._semantic, tenant_id, query, session_hexes)
            lexical_result = lexical.result()
            semantic_result = semantic.result()
        for ref, score in lexical_scores(lexical_terms, lexical_result).items():
            scored.candidates[ref] = _Candidate(lexical=score)
        if isinstance(semantic_result, str):
            scored.mode, scored.degraded = "lexical", semantic_result
            return scored
        embedder, similarities = semantic_result
        for ref, similarity in similarities.items():
            scored.candidates.setdefault(ref, _Candidate()).semantic = _calibrated(similarity, embedder)
        return scored

    def _semantic(
        self, tenant_id: str, query: SearchQuery, session_hexes: list[str] | None
    ) -> tuple[Embedder, dict[BlockRef, float]] | str:
        """The embedder and the nearest blocks' similarities; or why there are none."""
        if "semantic" not in query.sides:
            return "lexical only was asked for"
        embedder = self.embedder()
        if embedder is None or self.vectors is None:
            return "no embedder is configured" if embedder is None else "no vector index is configured"
        try:
            vector = embedder.embed([query.text])[0]
            nearest = self.vectors.query(vector, VECTOR_TOP_K, tenant_id, session_hexes, query.types, query.tags)
        except EmbeddingUnavailable as unavailable:
            logger.warning("semantic search unavailable: %s", unavailable)
            return f"the embedder did not answer: {unavailable}"
        except (ClientError, BotoCoreError) as failed:
            logger.warning("semantic search unavailable: %s", failed)
            return "the vector index did not answer"
        return embedder, {(hit[1], hit[2]): hit[3] for hit in nearest}

    def _hits(
        self,
        tenant_id: str,
        query: SearchQuery,
        query_terms: list[str],
        matching: list[tuple[BlockRef, _Candidate]],
        named: dict[str, Session],
    ) -> list[SearchHit]:
        """The best `limit` matches that still exist: blocks of sessions not deleted (a deleted session's blocks
        leave the index in the background, but its session item goes at once), compacted ones only when asked."""
        hits: list[SearchHit] = []
        sessions = dict(named)
        start = 0
        while len(hits) < query.limit and start < len(matching):
            window = matching[start : start + query.limit + 5]
            start += len(window)
            wanted_sessions = sorted({ref[0] for ref, _ in window} - set(sessions))
            for session in self.store.sessions.get_many(tenant_id, wanted_sessions):
                sessions[session.hex] = session
            refs = [ref for ref, _ in window if ref[0] in sessions]
            blocks = {(b.session_hex, b.order_key): b for b in self.store.blocks.get_across(tenant_id, refs)}
            for ref, candidate in window:
                block = blocks.get(ref)
                if block is None or (block.compacted and not query.include_compacted):
                    continue
                text = render_block_text(block.type, block.content)
                hits.append(
                    SearchHit(
                        block,
                        sessions[ref[0]],
                        round(candidate.score, 4),
                        round(candidate.lexical, 4),
                        round(candidate.semantic or 0.0, 4),
                        snippet(text, query_terms),
                    )
                )
                if len(hits) == query.limit:
                    break
        return hits


def _calibrated(similarity: float, embedder: Embedder) -> float:
    span = embedder.similarity_ceiling - embedder.similarity_floor
    return min(1.0, max(0.0, (similarity - embedder.similarity_floor) / span))


def snippet(text: str, query_terms: list[str]) -> str:
    """About SNIPPET_CHARS of the block's text around the first place a query term occurs (the rarest-looking,
    longest term first), else its opening; whitespace folded."""
    folded = re.sub(r"\s+", " ", text).strip()
    if len(folded) <= SNIPPET_CHARS:
        return folded
    lowered = folded.lower()
    at = -1
    for term in sorted(query_terms, key=len, reverse=True):
        at = lowered.find(term)
        if at >= 0:
            break
    begin = max(0, at - SNIPPET_CHARS // 3) if at >= 0 else 0
    end = min(len(folded), begin + SNIPPET_CHARS)
    begin = max(0, end - SNIPPET_CHARS)
    return ("…" if begin else "") + folded[begin:end].strip() + ("…" if end < len(folded) else "")


# session_recall searches its session with a lower bar than the API's default: the agent judges the snippets.
RECALL_THRESHOLD = 0.3
# A read's budget is counted in characters, about four to a token, so no tokenizer runs on a tool call.
CHARS_PER_TOKEN = 4


class SessionRecaller:
    """What the session_recall capability reaches: search and reads confined to one session."""

    def __init__(self, service: SearchService, session: Session) -> None:
        self.service = service
        self.session = session

    def search(self, query: str, limit: int, types: list[str] | None) -> list[dict[str, object]]:
        outcome = self.service.search(
            self.session.tenant_id,
            SearchQuery(query, [self.session.id], types=types, limit=limit, threshold=RECALL_THRESHOLD),
        )
        return [
            {
                "blockId": hit.block.id,
                "type": hit.block.type.value,
                "score": hit.score,
                "snippet": hit.snippet,
                "createdAt": hit.block.created_at,
                "coveredBy": hit.covered_by,
            }
            for hit in outcome.hits
        ]

    def read(self, block_ids: list[str], max_tokens: int) -> list[dict[str, object]]:
        keys = [self._order_key(block_id) for block_id in block_ids]
        found = {
            block.order_key: block
            for block in self.service.store.blocks.get_many(
                self.session.tenant_id, self.session.hex, keys, self.session.copy
            )
        }
        room = max_tokens * CHARS_PER_TOKEN
        read: list[dict[str, object]] = []
        for key in dict.fromkeys(keys):
            block = found.get(key)
            if block is None:
                read.append({"blockId": ids.block_id(self.session.hex, key), "error": "no such block"})
                continue
            text = render_block_text(block.type, block.content)
            shown, room = text[: max(room, 0)], room - len(text)
            read.append(
                {
                    "blockId": block.id,
                    "type": block.type.value,
                    "text": shown + ("…[cut: the read's token budget is spent]" if len(shown) < len(text) else ""),
                    "coveredBy": block.compacted_by if block.compacted else None,
                    "covers": (block.summary_of or {}).get("blockIds"),
                }
            )
        return read

    def covered(self, summary_id: str) -> list[str]:
        key = self._order_key(summary_id)
        block = self.service.store.blocks.get(self.session.tenant_id, self.session.hex, key)
        if block is None or not block.summary_of:
            raise ValueError(f"{summary_id} is not a summary of this session")
        return list(block.summary_of.get("blockIds", []))

    def _order_key(self, block_id: str) -> str:
        parsed = ids.parse_block_id(block_id)
        if parsed is None or parsed[0] != self.session.hex:
            raise ValueError(f"block {block_id!r} is not in this session")
        return parsed[1]
