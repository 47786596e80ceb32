"""The search and compaction benchmarks' own harness: metrics on hand-made rankings, a corpus whose labels are
right, and probes that the originals answer and nothing else does."""

from bisect import bisect_right
from itertools import accumulate

import pytest

from agentctx.schemas.blocks import BlockIn
from tests.benchmarks.compaction_probes import (
    PROBE_KINDS,
    Probe,
    answerable,
    count_answerable,
    long_session,
    spread_over_replicates,
)
from tests.benchmarks.search_corpus import Corpus, LabelledQuery, build_corpus, iter_blocks, normalise, occurrences
from tests.benchmarks.search_quality import evaluate, mean_reciprocal_rank, recall_at_k, reciprocal_rank

SMALL = {"session_count": 4, "blocks_per_session": 120}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus(seed=3, **SMALL)


def test_recall_at_k_counts_the_relevant_id_only_within_the_first_k():
    ranked = ["a", "b", "c"]

    assert recall_at_k(ranked, "b", 2) == 1.0
    assert recall_at_k(ranked, "c", 2) == 0.0
    assert recall_at_k([], "a", 10) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(ranked, "a", 0)


def test_mean_reciprocal_rank_is_the_mean_of_one_over_the_rank():
    assert reciprocal_rank(["a", "b", "c"], "c") == pytest.approx(1 / 3)
    assert reciprocal_rank(["a"], "z") == 0.0
    assert mean_reciprocal_rank([(["a", "b"], "a"), (["a", "b"], "b"), (["a"], "z")]) == pytest.approx(0.5)


def _two_query_corpus() -> Corpus:
    queries = [
        LabelledQuery("KeyError: 'tenant_id'", "exact", 0, 1, "f1"),
        LabelledQuery("why did uploads get more retries?", "paraphrase", 0, 2, "f2"),
    ]
    return Corpus(seed=0, sessions=[], queries=queries, facts=[], dropped_exact=0)


def test_evaluate_reports_recall_mrr_and_threshold_calibration_by_kind():
    answers = {
        "exact": [((0, 1), 0.95), ((0, 7), 0.8), ((0, 8), 0.5)],
        "paraphrase": [((0, 9), 0.75), ((0, 2), 0.72)],
    }

    report = evaluate(_two_query_corpus(), lambda query: answers[query.kind])

    assert report.overall.recall_at_k == 1.0
    assert report.by_kind["exact"].mrr == 1.0
    assert report.by_kind["paraphrase"].mrr == 0.5
    assert report.overall.mrr == 0.75
    at_07, at_09 = report.overall.thresholds[0.7], report.overall.thresholds[0.9]
    assert (at_07.returned, at_07.correct, at_07.precision, at_07.recall) == (4, 2, 0.5, 1.0)
    assert (at_09.returned, at_09.correct, at_09.precision, at_09.recall) == (1, 1, 1.0, 0.5)
    assert report.by_kind["paraphrase"].thresholds[0.9].precision is None
    assert report.misses == []
    assert len(report.table()) == 5


def test_evaluate_lists_a_query_whose_block_is_outside_the_top_k_as_a_miss():
    far = [((0, index), 0.5) for index in range(20, 30)] + [((0, 1), 0.4)]

    report = evaluate(_two_query_corpus(), lambda query: far, k=10)

    assert report.overall.recall_at_k == 0.0
    assert report.by_kind["exact"].mrr == pytest.approx(1 / 11)
    assert [query.fact_id for query in report.misses] == ["f1", "f2"]


def test_evaluate_refuses_scores_outside_zero_to_one():
    with pytest.raises(ValueError, match="within"):
        evaluate(_two_query_corpus(), lambda query: [((0, 1), 1.3)])


def test_the_corpus_is_the_same_for_a_seed_and_differs_between_seeds(corpus):
    again = build_corpus(seed=3, **SMALL)
    other = build_corpus(seed=4, **SMALL)

    assert again.sessions == corpus.sessions and again.queries == corpus.queries
    assert other.sessions != corpus.sessions


def test_every_labelled_query_points_at_a_block_holding_its_fact(corpus):
    facts = {fact.fact_id: fact for fact in corpus.facts}
    for query in corpus.queries:
        fact = facts[query.fact_id]
        assert (query.session_index, query.block_index) == (fact.session_index, fact.block_index)
        block = corpus.block(query.session_index, query.block_index)
        if query.kind == "exact":
            assert occurrences(query.text, normalise(block.text())), query


def test_an_exact_query_occurs_in_no_block_but_its_own(corpus):
    places = [(session_index, block_index) for session_index, block_index, _ in iter_blocks(corpus)]
    texts = [normalise(block.text()) for _, _, block in iter_blocks(corpus)]
    starts = list(accumulate((len(text) + 3 for text in texts[:-1]), initial=0))
    everything = " \x00 ".join(texts)
    for query in corpus.queries:
        if query.kind == "exact":
            found = {places[bisect_right(starts, at) - 1] for at in occurrences(query.text, everything)}
            assert found == {(query.session_index, query.block_index)}, query


def test_the_corpus_plants_every_fact_with_both_queries_and_a_near_miss(corpus):
    kinds = {query.kind for query in corpus.queries}

    assert kinds == {"exact", "paraphrase"}
    assert len(corpus.facts) > 300
    assert sum(query.kind == "paraphrase" for query in corpus.queries) == len(corpus.facts)
    assert sum(query.kind == "exact" for query in corpus.queries) == len(corpus.facts) - corpus.dropped_exact
    # background, then a fact and a near miss each: a session grows past its size when its facts do not fit
    assert all(len(session.blocks) >= SMALL["blocks_per_session"] for session in corpus.sessions)


def test_every_block_is_one_the_api_accepts(corpus):
    for _, _, block in iter_blocks(corpus):
        BlockIn.model_validate(block.as_block_in())


def test_a_probe_is_answerable_only_when_every_answer_is_present():
    probe = Probe("decision", "What did we choose for the job queue, and why?", ("SQS FIFO", "per-tenant ordering"), 0)

    assert answerable(probe, ["We picked sqs   FIFO.", "Reason:\nPer-tenant\tordering"])
    assert not answerable(probe, ["We picked SQS FIFO."])
    assert not answerable(probe, [])


def test_the_long_session_answers_its_probes_from_the_originals_only():
    probed = long_session(seed=5, blocks=300, probes_per_kind=4)
    texts = [block.text() for block in probed.session.blocks]
    probe_blocks = {probe.block_index for probe in probed.probes}
    background = [text for index, text in enumerate(texts) if index not in probe_blocks]

    assert count_answerable(probed.probes, texts) == {**{kind: 4 for kind in PROBE_KINDS}, "all": 16}
    assert count_answerable(probed.probes, [])["all"] == 0
    assert count_answerable(probed.probes, background)["all"] == 0
    assert long_session(seed=5, blocks=300, probes_per_kind=4) == probed


def test_spread_over_replicates_gives_mean_and_range_per_kind():
    spread = spread_over_replicates([{"fact": 4, "all": 10}, {"fact": 2, "all": 6}])

    assert spread["fact"].mean == 3.0 and (spread["fact"].minimum, spread["fact"].maximum) == (2, 4)
    assert spread["all"].stdev == pytest.approx(2.828, abs=1e-3)
    assert spread_over_replicates([{"all": 5}])["all"].stdev == 0.0
