"""Scoring a search against the labelled corpus: recall@k and MRR overall and by query kind, and how well the
scores are calibrated (precision and recall of "score >= 0.7" and "score >= 0.9").

The harness needs only a callable: `retrieve(query) -> [(block_ref, score), ...]`, best first, where a block_ref
is `(session_index, block_index)` in the corpus. Whoever runs a real search maps the block ids it answers back to
those places (the loader knows which id each block got), and decides the scope (the query's session, or the
tenant) from `query.session_index`.

Each query has exactly one labelled block, so precision at a threshold counts any other block above it as wrong,
even a near duplicate a person would accept: read it as a lower bound.
"""

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from tests.benchmarks.search_corpus import Corpus, LabelledQuery

BlockRef = tuple[int, int]
Retrieve = Callable[[LabelledQuery], list[tuple[BlockRef, float]]]
THRESHOLDS = (0.7, 0.9)


def recall_at_k(ranked_ids: Sequence[Hashable], relevant_id: Hashable, k: int) -> float:
    """1.0 when the relevant id is among the first k, else 0.0 (one relevant item per query)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return 1.0 if relevant_id in ranked_ids[:k] else 0.0


def reciprocal_rank(ranked_ids: Sequence[Hashable], relevant_id: Hashable) -> float:
    """1/rank of the relevant id (rank 1 = first), 0.0 when it is absent."""
    for rank, ranked_id in enumerate(ranked_ids, start=1):
        if ranked_id == relevant_id:
            return 1.0 / rank
    return 0.0


def mean_reciprocal_rank(rankings: Iterable[tuple[Sequence[Hashable], Hashable]]) -> float:
    """The mean of `reciprocal_rank` over (ranked ids, relevant id) pairs; 0.0 for none."""
    ranks = [reciprocal_rank(ranked, relevant) for ranked, relevant in rankings]
    return sum(ranks) / len(ranks) if ranks else 0.0


@dataclass(frozen=True)
class ThresholdResult:
    """Results with score >= threshold taken as the search's "relevant" answers.

    - precision: of those results, the share that are the labelled block (None when nothing passed);
    - recall: the share of queries whose labelled block passed.
    """

    threshold: float
    returned: int
    correct: int
    queries: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.returned if self.returned else None

    @property
    def recall(self) -> float:
        return self.correct / self.queries if self.queries else 0.0


@dataclass(frozen=True)
class KindReport:
    queries: int
    recall_at_k: float
    mrr: float
    thresholds: dict[float, ThresholdResult]


@dataclass(frozen=True)
class Report:
    k: int
    overall: KindReport
    by_kind: dict[str, KindReport]
    misses: list[LabelledQuery]

    def table(self) -> list[str]:
        """Markdown rows, as `make bench` prints its tables."""
        header = [f"recall@{self.k}", "MRR"]
        for threshold in self.overall.thresholds:
            header += [f"P(≥{threshold})", f"R(≥{threshold})"]
        rows = [f"| queries | n | {' | '.join(header)} |", "|---" * (len(header) + 2) + "|"]
        for name, part in [("all", self.overall), *sorted(self.by_kind.items())]:
            cells = [f"{part.recall_at_k:.3f}", f"{part.mrr:.3f}"]
            for result in part.thresholds.values():
                precision = "–" if result.precision is None else f"{result.precision:.3f}"
                cells += [precision, f"{result.recall:.3f}"]
            rows.append(f"| {name} | {part.queries} | {' | '.join(cells)} |")
        return rows


@dataclass(frozen=True)
class _Answered:
    query: LabelledQuery
    ranked: list[BlockRef]
    scores: list[float]

    @property
    def relevant(self) -> BlockRef:
        return (self.query.session_index, self.query.block_index)


def _summarise(answered: list[_Answered], k: int, thresholds: Sequence[float]) -> KindReport:
    results = {}
    for threshold in thresholds:
        returned = correct = 0
        for item in answered:
            passed = [ref for ref, score in zip(item.ranked, item.scores, strict=True) if score >= threshold]
            returned += len(passed)
            correct += item.relevant in passed
        results[threshold] = ThresholdResult(threshold, returned, correct, len(answered))
    count = len(answered)
    return KindReport(
        queries=count,
        recall_at_k=sum(recall_at_k(item.ranked, item.relevant, k) for item in answered) / count if count else 0.0,
        mrr=mean_reciprocal_rank((item.ranked, item.relevant) for item in answered),
        thresholds=results,
    )


def evaluate(corpus: Corpus, retrieve: Retrieve, k: int = 10, thresholds: Sequence[float] = THRESHOLDS) -> Report:
    """Runs every labelled query through `retrieve` and scores the answers.

    - The order `retrieve` returns is the ranking (its scores are used only for the thresholds), so a search that
      sorts wrongly is measured as it would serve.
    - A score outside [0, 1] is an error: the thresholds would mean nothing.
    """
    answered = []
    for query in corpus.queries:
        results = retrieve(query)
        bad = [score for _, score in results if not 0.0 <= score <= 1.0]
        if bad:
            raise ValueError(f"scores must be within [0, 1]; query {query.text!r} got {bad[:3]}")
        answered.append(_Answered(query, [ref for ref, _ in results], [score for _, score in results]))
    by_kind: dict[str, KindReport] = {
        kind: _summarise([item for item in answered if item.query.kind == kind], k, thresholds)
        for kind in sorted({item.query.kind for item in answered})
    }
    misses = [item.query for item in answered if not recall_at_k(item.ranked, item.relevant, k)]
    return Report(k, _summarise(answered, k, thresholds), by_kind, misses)
