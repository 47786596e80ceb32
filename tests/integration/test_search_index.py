"""The lexical search index on the embedded DynamoDB (SearchTable from the template), and its indexer fed by the
context table's real stream through the template's SearchIndexFunction."""

import json

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from agentctx import ids
from agentctx.store.search_index import LexicalIndex, impact, stem, terms
from infra.local_streams import StreamReader
from infra.template import load_template, table_definitions
from tests.conftest import RESOURCES
from tests.events import LambdaContext
from tests.integration.test_sessions_api import append, create_session, note
from tests.template.conftest import functions, load_handler, sam_template

S1, S2 = "a" * 32, "b" * 32


@pytest.fixture
def index(aws) -> LexicalIndex:  # type: ignore[no-untyped-def]
    return LexicalIndex(RESOURCES["SearchTable"])


def query(text: str) -> list[str]:
    return list(terms(text))


def test_a_term_s_postings_come_most_impactful_first_and_df_counts_its_blocks(index):
    index.put("t1", S1, "k1", "note", [], "redis cache " + "filler words here " * 20)
    index.put("t1", S1, "k2", "note", [], "cache cache cache eviction")
    index.put("t1", S2, "k3", "note", [], "cache warmup")

    result = index.search("t1", query("cache redis"), None, None, None)
    top = index.search("t1", query("cache"), None, None, None, per_term=1)

    assert (result.docs, result.df, result.truncated) == (3, {stem("cache"): 3, stem("redis"): 1}, set())
    assert set(result.postings) == {(S1, "k1"), (S1, "k2"), (S2, "k3")}
    assert result.postings[(S1, "k1")].keys() == {stem("cache"), stem("redis")}
    # the rarer term is read for the one block that has it; a term repeated in a short block weighs most
    cache = {block: impacts[stem("cache")] for block, impacts in result.postings.items()}
    assert cache[(S1, "k2")] > cache[(S2, "k3")] > cache[(S1, "k1")]
    assert set(top.postings) == {(S1, "k2")} and top.truncated == {stem("cache")}


def test_a_session_scoped_search_reads_only_those_sessions_and_counts_their_blocks(index):
    sessions = [f"{n:032x}" for n in range(5)]
    for n, session_hex in enumerate(sessions):
        for k in range(n + 1):
            index.put("t1", session_hex, f"k{k}", "note", [], "deploy pipeline")

    one = index.search("t1", query("deploy"), [sessions[1]], None, None)
    four = index.search(
        "t1", query("deploy"), sessions[1:], None, None
    )  # beyond 3 sessions: the tenant's read, filtered
    tenant = index.search("t1", query("deploy"), None, None, None)

    assert (one.docs, one.df["deploy"]) == (2, 2) and {s for s, _ in one.postings} == {sessions[1]}
    assert (four.docs, four.df["deploy"]) == (14, 14) and {s for s, _ in four.postings} == set(sessions[1:])
    assert (tenant.docs, tenant.df["deploy"]) == (15, 15)


def test_type_and_tag_filters_keep_matching_blocks_only(index):
    index.put("t1", S1, "k1", "note", ["auth"], "token refresh")
    index.put("t1", S1, "k2", "file", ["auth", "api"], "token refresh")
    index.put("t1", S1, "k3", "file", [], "token refresh")

    by_type = index.search("t1", query("token"), [S1], ["file"], None)
    by_tag = index.search("t1", query("token"), None, None, ["auth"])
    both = index.search("t1", query("token"), [S1], ["file", "diff"], ["api", "other"])

    assert set(by_type.postings) == {(S1, "k2"), (S1, "k3")}
    assert set(by_tag.postings) == {(S1, "k1"), (S1, "k2")}
    assert set(both.postings) == {(S1, "k2")}


def test_indexing_a_block_again_replaces_its_terms_and_counts_it_once(index):
    index.put("t1", S1, "k1", "note", [], "alpha beta")
    index.put("t1", S1, "k1", "note", ["new"], "alpha gamma gamma")

    result = index.search("t1", query("alpha beta gamma"), None, None, ["new"])

    assert result.docs == 1 and result.df == {"alpha": 1, "beta": 0, "gamma": 1}
    expected = {"alpha": impact(1, 3), "gamma": impact(2, 3)}  # three terms: alpha once, gamma twice
    assert result.postings == {(S1, "k1"): pytest.approx(expected, abs=1e-6)}


def test_a_removed_block_is_found_no_more_and_leaves_the_counts(index):
    index.put("t1", S1, "k1", "note", [], "alpha")
    index.put("t1", S1, "k2", "note", [], "alpha")

    assert index.remove("t1", S1, "k1") is True
    assert index.remove("t1", S1, "k1") is False  # removed twice, counted once

    result = index.search("t1", query("alpha"), [S1], None, None)
    assert (result.docs, set(result.postings)) == (1, {(S1, "k2")})
    assert index.search("t1", query("alpha"), None, None, None).docs == 1
    # what is left: k2's posting and block record, the tenant's and the session's counts
    assert boto3.client("dynamodb").scan(TableName=RESOURCES["SearchTable"], Select="COUNT")["Count"] == 4


def test_another_tenant_s_postings_are_never_read_whatever_session_is_named(index):
    index.put("t1", S1, "k1", "note", [], "secret roadmap")

    for sessions in (None, [S1], [S1, S2, "c" * 32, "d" * 32]):
        result = index.search("t2", query("secret roadmap"), sessions, None, None)
        assert (result.docs, result.postings) == (0, {})


# The indexer, from the context table's stream


def search_handler():
    return load_handler(functions(sam_template())["SearchIndexFunction"])


def run(reader: StreamReader, handler) -> tuple[list[dict], list[str]]:  # type: ignore[no-untyped-def]
    """Hand the records written since the last read to the function, as the event source mapping does; the
    records and the sequence numbers it reported as failed."""
    event = reader.read()
    response = handler(event, LambdaContext())
    return event["Records"], [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def block_keys(block: dict) -> tuple[str, str]:
    parsed = ids.parse_block_id(block["id"])
    assert parsed is not None
    return parsed


def test_blocks_written_through_the_api_become_searchable_and_a_deleted_one_is_removed(api):
    reader = StreamReader(RESOURCES["ContextTable"])
    handler = search_handler()
    session = create_session(api)
    kept, deleted = append(api, session["id"], note("ECONNRESET from the payments gateway"), note("payments retry"))

    assert run(reader, handler)[1] == []
    index = LexicalIndex(RESOURCES["SearchTable"])
    found = index.search(api.tenant_id, query("payments econnreset"), None, None, None)
    assert set(found.postings) == {block_keys(kept), block_keys(deleted)} and found.df["econnreset"] == 1

    assert api.delete(f"/v1/aip/blocks/{deleted['id']}").status_code == 200
    assert run(reader, handler)[1] == []
    assert set(index.search(api.tenant_id, query("payments"), None, None, None).postings) == {block_keys(kept)}


def test_a_changed_tag_is_indexed_and_a_change_to_nothing_indexed_is_skipped(api):
    reader = StreamReader(RESOURCES["ContextTable"])
    handler = search_handler()
    session = create_session(api)
    (block,) = append(api, session["id"], note("rollout plan", tags=["ops"]))
    run(reader, handler)
    index = LexicalIndex(RESOURCES["SearchTable"])

    api.patch(f"/v1/aip/blocks/{block['id']}", json={"tags": ["release"]})
    run(reader, handler)
    assert set(index.search(api.tenant_id, query("rollout"), None, None, ["release"]).postings) == {block_keys(block)}
    assert index.search(api.tenant_id, query("rollout"), None, None, ["ops"]).postings == {}

    from agentctx.wiring import search_indexer

    api.patch(f"/v1/aip/blocks/{block['id']}", json={"pinned": True})
    records = reader.read()["Records"]
    modified = [r for r in records if r["eventName"] == "MODIFY" and r["dynamodb"]["Keys"]["sk"]["S"].startswith("B#")]
    assert modified and [search_indexer().handle(record) for record in modified] == [None] * len(modified)


def drop_search_table() -> None:
    client = boto3.client("dynamodb")
    client.delete_table(TableName=RESOURCES["SearchTable"])


def create_search_table() -> None:
    definition = table_definitions(load_template())["SearchTable"]
    boto3.client("dynamodb").create_table(TableName=RESOURCES["SearchTable"], **definition)


def test_a_record_that_failed_is_reported_and_indexed_when_retried(api):
    """The failure is a real one: the search table does not exist on the first attempt (as when the function runs
    before its table is created), so DynamoDB answers ResourceNotFoundException; it is created before the retry."""
    reader = StreamReader(RESOURCES["ContextTable"])
    handler = search_handler()
    session = create_session(api)
    (block,) = append(api, session["id"], note("flaky indexing"))
    drop_search_table()

    records, failed = run(reader, handler)

    block_records = [r for r in records if r["dynamodb"]["Keys"]["sk"]["S"].startswith("B#")]
    assert failed == [block_records[0]["dynamodb"]["SequenceNumber"]]
    create_search_table()
    response = handler({"Records": block_records}, LambdaContext())  # the mapping retries from the failed record
    assert response["batchItemFailures"] == []
    found = LexicalIndex(RESOURCES["SearchTable"]).search(api.tenant_id, query("flaky"), None, None, None)
    assert set(found.postings) == {block_keys(block)}


def test_a_record_that_keeps_failing_fails_each_attempt_and_the_mapping_sends_it_to_the_dead_letter_queue(api):
    """Filtered as the mapping filters, the batch holds only the block, so its failure fails the invocation (Powertools
    raises when every record failed): the mapping retries, bisects, and after MaximumRetryAttempts sends it on."""
    reader = StreamReader(RESOURCES["ContextTable"])
    handler = search_handler()
    session = create_session(api)
    append(api, session["id"], note("never indexed"))
    drop_search_table()
    records = [r for r in reader.read()["Records"] if r["dynamodb"]["Keys"]["sk"]["S"].startswith("B#")]
    mapping = functions(sam_template())["SearchIndexFunction"]["Events"]["BlockChanges"]["Properties"]

    for _ in range(mapping["MaximumRetryAttempts"] + 1):
        with pytest.raises(BatchProcessingError, match="ResourceNotFoundException"):
            handler({"Records": records}, LambdaContext())

    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["BisectBatchOnFunctionError"]
    assert mapping["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["SearchIndexDeadLetterQueue", "Arn"]},
    }


def test_the_stream_filter_passes_the_changes_of_blocks_and_nothing_else(api):
    from moto.events.models import EventPattern

    mapping = functions(sam_template())["SearchIndexFunction"]["Events"]["BlockChanges"]["Properties"]
    patterns = [EventPattern.load(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    reader = StreamReader(RESOURCES["ContextTable"])
    session = create_session(api)
    (block,) = append(api, session["id"], note("filtered", tags=["a"]))
    api.patch(f"/v1/aip/blocks/{block['id']}", json={"tags": ["b"]})
    api.delete(f"/v1/aip/blocks/{block['id']}")

    records = [json.loads(json.dumps(r, default=str)) for r in reader.read()["Records"]]  # as Lambda receives them
    passed = [
        (r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in records if any(p.matches_event(r) for p in patterns)
    ]

    sk = "B#" + block_keys(block)[1]
    assert passed == [("INSERT", sk), ("MODIFY", sk), ("REMOVE", sk)]
    assert len(records) > len(passed)  # the session item and the tag entries are left out
