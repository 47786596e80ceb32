"""The block vector store through boto3 against the embedded S3 Vectors (moto, with QueryVectors answered by
infra/local_vectors.py): filters, cosine order, removal, and one tenant never seeing another's vectors."""

import math

import pytest
from botocore.exceptions import ClientError

from agentctx.settings import get_settings
from agentctx.store.vectors import VectorItem, VectorStore, s3vectors_client, vector_key

DIMENSIONS = 256  # the embedded index's, from the settings' default


def direction(degrees: float) -> list[float]:
    """A unit vector at this angle from the first axis, in the plane of the first two: cos(angle) to `direction(0)`."""
    vector = [0.0] * DIMENSIONS
    vector[0], vector[1] = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return vector


def item(tenant: str, session: str, order_key: str, degrees: float, type_: str = "text", tags=()) -> VectorItem:  # type: ignore[no-untyped-def]
    return VectorItem(tenant, session, order_key, type_, direction(degrees), list(tags))


@pytest.fixture
def store(aws: None) -> VectorStore:
    return VectorStore(s3vectors_client(), get_settings().vector_index_arn)


def keys(found: list[tuple[str, str, str, float]]) -> list[str]:
    return [order_key for _, _, order_key, _ in found]


def test_a_query_answers_the_tenant_s_nearest_blocks_first_with_their_cosine_similarity(store: VectorStore):
    store.put([item("t1", "s1", "far", 80), item("t1", "s1", "near", 10), item("t1", "s2", "middle", 45)])

    found = store.query(direction(0), 10, "t1")

    assert keys(found) == ["near", "middle", "far"]
    assert [(tenant, session) for tenant, session, _, _ in found] == [("t1", "s1"), ("t1", "s2"), ("t1", "s1")]
    similarities = [similarity for *_, similarity in found]
    assert similarities == pytest.approx([math.cos(math.radians(d)) for d in (10, 45, 80)], abs=1e-5)


def test_a_query_answers_at_most_top_k(store: VectorStore):
    store.put([item("t1", "s1", f"b{degrees:02d}", degrees) for degrees in range(0, 90, 10)])

    assert keys(store.query(direction(0), 3, "t1")) == ["b00", "b10", "b20"]


def test_a_query_never_answers_another_tenant_s_vectors_however_near(store: VectorStore):
    store.put([item("other", "s1", "exact", 0), item("other", "s1", "close", 1), item("t1", "s1", "mine", 70)])

    assert keys(store.query(direction(0), 10, "t1")) == ["mine"]
    assert keys(store.query(direction(0), 10, "nobody")) == []


def test_sessions_types_and_tags_each_narrow_to_any_of_their_values(store: VectorStore):
    store.put(
        [
            item("t1", "s1", "a", 10, "text", ["auth", "bug"]),
            item("t1", "s2", "b", 20, "tool_result", ["auth"]),
            item("t1", "s3", "c", 30, "text", ["perf"]),
            item("t1", "s1", "d", 40, "summary"),
        ]
    )

    assert keys(store.query(direction(0), 10, "t1", sessions=["s1"])) == ["a", "d"]
    assert keys(store.query(direction(0), 10, "t1", sessions=["s2", "s3"])) == ["b", "c"]
    assert keys(store.query(direction(0), 10, "t1", types=["text", "summary"])) == ["a", "c", "d"]
    assert keys(store.query(direction(0), 10, "t1", tags=["bug"])) == ["a"]  # any of the block's tags
    assert keys(store.query(direction(0), 10, "t1", tags=["auth", "perf"])) == ["a", "b", "c"]  # untagged: never
    assert keys(store.query(direction(0), 10, "t1", sessions=["s1", "s2"], types=["text"], tags=["auth"])) == ["a"]
    assert store.query(direction(0), 10, "t1", sessions=[]) == []


def test_a_block_written_again_is_found_by_its_new_vector_and_metadata_only(store: VectorStore):
    store.put([item("t1", "s1", "a", 80, "text", ["old"]), item("t1", "s1", "b", 40)])
    store.query(direction(0), 10, "t1")  # the emulation's matrix is built; the rewrite must reach it

    store.put([item("t1", "s1", "a", 5, "summary", ["new"])])

    assert keys(store.query(direction(0), 10, "t1")) == ["a", "b"]
    assert keys(store.query(direction(0), 10, "t1", tags=["old"])) == []
    assert keys(store.query(direction(0), 10, "t1", types=["summary"], tags=["new"])) == ["a"]


def test_removed_vectors_are_neither_found_nor_got(store: VectorStore):
    store.put([item("t1", "s1", "a", 10), item("t1", "s1", "b", 20)])
    store.query(direction(0), 10, "t1")

    store.remove([vector_key("t1", "s1", "a"), vector_key("t1", "s1", "never-written")])

    assert keys(store.query(direction(0), 10, "t1")) == ["b"]
    assert set(store.get([vector_key("t1", "s1", "a"), vector_key("t1", "s1", "b")])) == {vector_key("t1", "s1", "b")}


def test_get_answers_the_stored_vectors_by_key(store: VectorStore):
    store.put([item("t1", "s1", "a", 30)])

    got = store.get([vector_key("t1", "s1", "a"), vector_key("t1", "s1", "unknown")])

    assert list(got) == ["t1#s1#a"]
    assert got["t1#s1#a"] == pytest.approx(direction(30), abs=1e-6)


def test_writes_reads_and_deletes_are_cut_to_the_api_s_limits_per_call(store: VectorStore):
    calls: list[tuple[str, int]] = []

    def count(params, model, **_) -> None:  # type: ignore[no-untyped-def]
        calls.append((model.name, len(params.get("vectors") or params.get("keys"))))

    store.client.meta.events.register("provide-client-params.s3vectors", count)
    try:
        items = [item("t1", "s1", f"k{n:04d}", n % 90) for n in range(501)]
        store.put(items)
        assert len(store.get([i.key for i in items[:101]])) == 101
        store.remove([i.key for i in items])
    finally:
        store.client.meta.events.unregister("provide-client-params.s3vectors", count)

    assert calls == [
        ("PutVectors", 500),
        ("PutVectors", 1),
        ("GetVectors", 100),
        ("GetVectors", 1),
        ("DeleteVectors", 500),
        ("DeleteVectors", 1),
    ]
    assert store.query(direction(0), 10, "t1") == []


def test_the_embedded_index_refuses_what_s3_vectors_refuses(store: VectorStore):
    store.put([item("t1", "s1", "a", 10)])
    arn = store.index_arn

    def refused(**arguments) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises(ClientError) as raised:
            store.client.query_vectors(indexArn=arn, **arguments)
        return raised.value.response["Error"]["Code"]

    assert refused(queryVector={"float32": direction(0)}, topK=101) == "ValidationException"
    assert refused(queryVector={"float32": [1.0, 0.0]}, topK=1) == "ValidationException"
    assert (
        refused(queryVector={"float32": direction(0)}, topK=1, filter={"type": {"$like": "x"}}) == "ValidationException"
    )
    assert refused(queryVector={"float32": direction(0)}, topK=1, filter={"type": {"$in": []}}) == "ValidationException"
