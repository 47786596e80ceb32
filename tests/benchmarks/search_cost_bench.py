"""What one search costs as a tenant grows: DynamoDB and S3 Vectors calls and wall time (p50, p95) of
`SearchService.search` at 1,000, 10,000 and 100,000 blocks on the embedded store (moto, the local embedder, the
exact-search stand-in for QueryVectors), tenant-wide and in one session.

The blocks are a coding agent's conversation (the asks and answers of tests/benchmarks/agent_sessions.py, ~20
distinct terms each) in sessions of up to 10,000 blocks. They are written to the context table in batches and
indexed with the lexical index's own items (those LexicalIndex.put writes, in batches across blocks), the local
embedder in batches and VectorStore.put, rather than through the stream, to keep the set-up minutes, not hours: the
stream path is what the tests check. Sizes from
SEARCH_BENCH_SIZES (default 1000,10000,100000).
"""

import os
import random
import statistics
import sys
import time
from collections import Counter
from typing import Any

DEFAULT_SIZES = [1_000, 10_000, 100_000]
SESSION_BLOCKS = 10_000
QUERIES = 40
EMBED_BATCH = 512


class S3VectorsCalls:
    """S3 Vectors calls by API, from botocore's before-call hook on the vector store's client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def __enter__(self) -> "S3VectorsCalls":
        self.calls.clear()
        self.client.meta.events.register("before-call.s3vectors", self._count)
        return self

    def __exit__(self, *_: Any) -> None:
        self.client.meta.events.unregister("before-call.s3vectors", self._count)


def _seed(tenant: str, size: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """`size` blocks in sessions of up to SESSION_BLOCKS, in the context table and both indexes; the session ids and
    a sample of block texts to draw queries from."""
    from agentctx import ids
    from agentctx.domain import Session, utc_now
    from agentctx.schemas.blocks import BlockIn
    from agentctx.store.vectors import VectorItem
    from agentctx.wiring import block_builder, context_store, embedder, search_index, vector_store
    from tests.benchmarks.agent_sessions import PROJECTS

    model, vectors, lexical = embedder(), vector_store(), search_index()
    assert model is not None and vectors is not None, "the local embedder and vector index must be configured"
    session_ids, samples = [], []
    for first in range(0, size, SESSION_BLOCKS):
        count = min(SESSION_BLOCKS, size - first)
        project = PROJECTS[first // SESSION_BLOCKS % len(PROJECTS)]
        now = utc_now()
        session = Session(tenant, ids.new_hex(), f"{project.name} {first}", now, now)
        specs = [_conversation(rng, project) for _ in range(count)]
        built = [block_builder().build(session.hex, BlockIn.model_validate(spec.as_block_in()), now) for spec in specs]
        session.block_count, session.total_tokens = count, sum(block.token_count for block in built)
        context_store().sessions.create(session, built)
        texts = [spec.text() for spec in specs]
        _bulk_postings(lexical, tenant, session.hex, built, texts)
        for start in range(0, count, EMBED_BATCH):
            chunk = built[start : start + EMBED_BATCH]
            embedded = model.embed(texts[start : start + EMBED_BATCH])
            vectors.put(
                [
                    VectorItem(tenant, session.hex, block.order_key, block.type.value, vector, block.tags)
                    for block, vector in zip(chunk, embedded, strict=True)
                ]
            )
        session_ids.append(session.id)
        samples += rng.sample(texts, min(len(texts), QUERIES))
    return session_ids, samples


def _conversation(rng: random.Random, project: Any) -> Any:
    """A conversation block of the project's ordinary traffic (its asks and answers)."""
    from tests.benchmarks.agent_sessions import background_block

    while (block := background_block(rng, project)).type != "conversation":
        pass
    return block


def _bulk_postings(lexical: Any, tenant: str, session_hex: str, built: list[Any], texts: list[str]) -> None:
    """The items LexicalIndex.put writes for each block (postings, block record) and the counts it keeps, written in
    batches across blocks: the same index, minutes faster to build than block by block."""
    from agentctx.store.dynamo import batch_write, dynamodb_client, to_item
    from agentctx.store.search_index import (
        BLOCK_RECORD_SK_PREFIX,
        COUNT_SK,
        MAX_BLOCK_TERMS,
        imp6,
        impact,
        session_pk,
        tenant_count_pk,
        terms,
    )

    writes = []
    for block, text in zip(built, texts, strict=True):
        counts = terms(text)
        dl = sum(counts.values())
        kept = {
            term: imp6(impact(tf, dl)) for term, tf in sorted(counts.items(), key=lambda p: -p[1])[:MAX_BLOCK_TERMS]
        }
        kind, tags = block.type.value, block.tags
        writes += [
            {"PutRequest": {"Item": lexical._posting(tenant, session_hex, block.order_key, term, key, kind, tags)}}
            for term, key in kept.items()
        ]
        record = {
            "pk": session_pk(tenant, session_hex),
            "sk": BLOCK_RECORD_SK_PREFIX + block.order_key,
            "terms": [f"{term}#{key}" for term, key in kept.items()],
            "dl": dl,
        }
        writes.append({"PutRequest": {"Item": to_item(record)}})
    batch_write(lexical.table, writes)
    for pk in (tenant_count_pk(tenant), session_pk(tenant, session_hex)):
        dynamodb_client().update_item(
            TableName=lexical.table,
            Key=to_item({"pk": pk, "sk": COUNT_SK}),
            UpdateExpression="ADD docs :n",
            ExpressionAttributeValues={":n": {"N": str(len(built))}},
        )


def _query_from(text: str, rng: random.Random) -> str:
    """Three to six consecutive words of a block: what a user remembers of it."""
    words = text.split()
    length = min(len(words), rng.randint(3, 6))
    start = rng.randrange(0, max(1, len(words) - length))
    return " ".join(words[start : start + length])


def _measure(tenant: str, queries: list[str], sessions: list[str] | None) -> dict[str, Any]:
    from agentctx.services.search import SearchQuery
    from agentctx.wiring import search_service, vector_store
    from tests.dynamo_calls import CallCounter

    service, counter = search_service(), CallCounter()
    store = vector_store()
    assert store is not None
    times: list[float] = []
    dynamo: list[int] = []
    s3: list[int] = []
    found = 0
    for text in queries:
        with S3VectorsCalls(store.client) as vector_calls, counter.measure() as measured:
            began = time.perf_counter()
            outcome = service.search(tenant, SearchQuery(text, sessions, threshold=0.0))
            times.append((time.perf_counter() - began) * 1000)
        dynamo.append(measured["calls"])
        s3.append(sum(vector_calls.calls.values()))
        found += bool(outcome.hits)
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[max(0, round(0.95 * len(times)) - 1)],
        "dynamo": (min(dynamo), max(dynamo)),
        "s3": (min(s3), max(s3)),
        "answered": found / len(queries),
    }


def search_cost_rows(sizes: list[int] | None = None) -> list[str]:
    from infra.local_aws import local_aws
    from tests.benchmarks.run import BENCH_RESOURCES

    sizes = (
        sizes or [int(size) for size in os.environ.get("SEARCH_BENCH_SIZES", "").split(",") if size] or DEFAULT_SIZES
    )
    rows = [
        "| blocks | scope | DynamoDB calls | S3 Vectors calls | p50 ms | p95 ms | set-up s |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    with local_aws(BENCH_RESOURCES):
        for size in sizes:
            rng = random.Random(size)
            tenant = f"org_{size:032d}"
            began = time.perf_counter()
            sessions, samples = _seed(tenant, size, rng)
            setup = time.perf_counter() - began
            queries = [_query_from(text, rng) for text in rng.sample(samples, QUERIES)]
            _measure(tenant, queries[:5], None)  # warm: the embedder and the clients
            for scope, named in (("tenant", None), ("one session", sessions[:1])):
                figures = _measure(tenant, queries, named)
                rows.append(
                    f"| {size:,} | {scope} | {figures['dynamo'][0]}-{figures['dynamo'][1]} | "
                    f"{figures['s3'][0]}-{figures['s3'][1]} | {figures['p50']:.0f} | {figures['p95']:.0f} | "
                    f"{setup:.0f} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)  # the largest size takes a while
    return rows


if __name__ == "__main__":
    from tests.benchmarks.run import bench_environment

    bench_environment()
    print("\n".join(search_cost_rows()))
