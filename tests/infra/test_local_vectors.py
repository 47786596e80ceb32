"""The embedded S3 Vectors' metadata filter follows S3 Vectors' documented semantics, array values included, and its
candidate rows (read from a filter's equalities) never change an answer."""

import numpy as np
import pytest

from infra.local_vectors import FilterError, IndexMatrix, compile_filter

BLOCK = {"tenant": "t1", "type": "text", "tags": ["auth", "bug"], "size": 120, "pinned": True}


@pytest.mark.parametrize(
    ("query_filter", "matches"),
    [
        ({"type": "text"}, True),  # a plain value is $eq
        ({"type": {"$eq": "summary"}}, False),
        ({"tags": {"$eq": "bug"}}, True),  # an array matches $eq when any element does
        ({"tags": "perf"}, False),
        ({"tags": {"$in": ["perf", "auth"]}}, True),  # ... and $in
        ({"tags": {"$in": ["perf"]}}, False),
        ({"tags": {"$ne": "bug"}}, False),  # $ne and $nin hold when no element matches
        ({"tags": {"$nin": ["perf", "ops"]}}, True),
        ({"tags": {"$nin": ["bug"]}}, False),
        ({"missing": {"$ne": "x"}}, True),  # a missing field matches only the negative operators
        ({"missing": {"$nin": ["x"]}}, True),
        ({"missing": {"$eq": "x"}}, False),
        ({"missing": {"$in": ["x"]}}, False),
        ({"missing": {"$exists": False}}, True),
        ({"tags": {"$exists": True}}, True),
        ({"size": {"$gt": 100, "$lte": 120}}, True),  # several operators all hold
        ({"size": {"$lt": 120}}, False),
        ({"size": {"$gte": 121}}, False),
        ({"pinned": 1}, False),  # a boolean is not a number
        ({"pinned": True}, True),
        ({"tenant": "t1", "type": "summary"}, False),  # several fields all hold
        ({"$and": [{"tenant": "t1"}, {"tags": {"$in": ["bug"]}}]}, True),
        ({"$or": [{"type": "summary"}, {"tags": "auth"}]}, True),
        ({"$or": [{"type": "summary"}, {"$and": [{"tenant": "t2"}, {"tags": "auth"}]}]}, False),
    ],
)
def test_a_filter_matches_as_s3_vectors_documents(query_filter, matches):  # type: ignore[no-untyped-def]
    assert compile_filter(query_filter)(BLOCK) is matches


@pytest.mark.parametrize(
    "query_filter",
    [
        {},
        {"type": {"$like": "te"}},
        {"type": {"$in": []}},
        {"type": {"$in": "text"}},
        {"size": {"$gt": "100"}},
        {"type": {"$exists": 1}},
        {"$and": []},
        {"$or": {"type": "text"}},
        {"$not": [{"type": "text"}]},
        {"type": {"$eq": ["text"]}},
    ],
)
def test_a_filter_s3_vectors_refuses_is_refused(query_filter):  # type: ignore[no-untyped-def]
    with pytest.raises(FilterError):
        compile_filter(query_filter)


class Stored:
    def __init__(self, data: list[float], metadata: dict) -> None:
        self.data, self.metadata = {"float32": data}, metadata


def test_the_rows_a_filter_s_equalities_pick_give_the_answer_a_scan_of_every_row_gives():
    from infra.local_vectors import _TrackedVectors

    rng = np.random.default_rng(7)
    vectors = _TrackedVectors()
    for n in range(600):
        tags = [f"g{n % 5}", f"g{n % 3}"][: n % 3]
        vectors[f"k{n}"] = Stored(rng.standard_normal(8).tolist(), {"tenant": f"t{n % 4}", "tags": tags, "n": n % 10})
    for n in range(0, 600, 7):
        del vectors[f"k{n}"]
    matrix = IndexMatrix(8)
    matrix.refresh(vectors)
    query = rng.standard_normal(8).astype(np.float32)
    query /= np.linalg.norm(query)

    for query_filter in (
        {"tenant": "t1"},
        {"$and": [{"tenant": {"$in": ["t1", "t2"]}}, {"tags": {"$in": ["g1", "g4"]}}]},
        {"tenant": "t3", "n": {"$gte": 5}},
    ):
        picked = matrix.nearest(query, 25, query_filter)
        # the same filter wrapped in an $or reads no equality: every row is scored and tested
        scanned = matrix.nearest(query, 25, {"$or": [query_filter]})
        assert [key for key, _, _ in picked] == [key for key, _, _ in scanned]
        assert len(picked) == 25 and all(compile_filter(query_filter)(metadata) for _, _, metadata in picked)
