"""Retrieval quality of search on a labelled corpus (tests/benchmarks/search_corpus.py): recall@10, MRR and the
precision of the score thresholds, for lexical, semantic and hybrid side by side, in one session and across the
tenant. The corpus is written to the embedded store as the service writes blocks and indexed by the built
SearchIndexFunction from the table's stream, with the local embedder (wordllama, offline).
"""

from collections.abc import Callable
from typing import Any

from tests.benchmarks.search_corpus import Corpus, LabelledQuery, build_corpus

SIDES = {
    "lexical": frozenset({"lexical"}),
    "semantic": frozenset({"semantic"}),
    "hybrid": frozenset({"lexical", "semantic"}),
}


def write_sessions(tenant: str, specs: list[Any]) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """Sessions of these specs in the store, written as the service writes blocks: their ids, and each block id's
    reference (session index, block index)."""
    from agentctx import ids
    from agentctx.domain import Session, utc_now
    from agentctx.schemas.blocks import BlockIn
    from agentctx.wiring import block_builder, context_store

    session_ids: list[str] = []
    refs: dict[str, tuple[int, int]] = {}
    for session_index, spec in enumerate(specs):
        now = utc_now()
        session = Session(tenant, ids.new_hex(), spec.name, now, now, tags=list(spec.tags))
        built = [block_builder().build(session.hex, BlockIn.model_validate(b.as_block_in()), now) for b in spec.blocks]
        session.block_count, session.total_tokens = len(built), sum(block.token_count for block in built)
        context_store().sessions.create(session, built)
        session_ids.append(session.id)
        refs |= {block.id: (session_index, block_index) for block_index, block in enumerate(built)}
    return session_ids, refs


def stream_indexer() -> Callable[[], int]:
    """Catches the search index up with the context table's stream through the built SearchIndexFunction's
    handler, as its event source mapping does; answers the records handled."""
    from infra.local_streams import StreamReader
    from infra.template import load_template
    from tests.benchmarks.run import BENCH_RESOURCES
    from tests.events import LambdaContext
    from tests.template.conftest import functions, load_handler

    reader = StreamReader(BENCH_RESOURCES["ContextTable"])
    handler = load_handler(functions(load_template())["SearchIndexFunction"])

    def catch_up() -> int:
        handled = 0
        while records := reader.read()["Records"]:
            answer = handler({"Records": records}, LambdaContext())
            assert not answer["batchItemFailures"], answer
            handled += len(records)
        return handled

    return catch_up


def retrieval_rows(corpus: Corpus | None = None) -> list[str]:
    from agentctx.services.search import SearchQuery
    from agentctx.wiring import search_service
    from infra.local_aws import local_aws
    from tests.benchmarks.run import BENCH_RESOURCES
    from tests.benchmarks.search_quality import evaluate

    corpus = corpus or build_corpus()
    tenant = "org_" + "5" * 32
    rows: list[str] = []
    with local_aws(BENCH_RESOURCES):
        index = stream_indexer()
        session_ids, refs = write_sessions(tenant, corpus.sessions)
        index()
        for scope in ("one session", "tenant"):
            for name, sides in SIDES.items():

                def retrieve(
                    query: LabelledQuery, sides: frozenset[str] = sides, scope: str = scope
                ) -> list[tuple[Any, float]]:
                    sessions = [session_ids[query.session_index]] if scope == "one session" else None
                    outcome = search_service().search(
                        tenant, SearchQuery(query.text, sessions, limit=10, threshold=0.0, sides=sides)
                    )
                    return [(refs[hit.block.id], hit.score) for hit in outcome.hits]

                report = evaluate(corpus, retrieve)
                rows.append(f"\n**{name}, {scope}** ({len(corpus.queries)} queries)\n")
                rows += report.table()
    return rows


if __name__ == "__main__":
    from tests.benchmarks.run import bench_environment

    bench_environment()
    print("\n".join(retrieval_rows()))
