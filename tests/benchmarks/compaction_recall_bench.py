"""What compaction loses, and what search gets back: a long session with planted probes of four kinds (a fact, a file
touched, a decision and its reason, the next step; tests/benchmarks/compaction_probes.py) is compacted to a quarter
of its tokens, and a scripted reader counts the probes it can answer from
(a) what the session's context holds after compaction: the summaries, the blocks kept and the artifact ledger;
(b) that, plus what session_recall finds for the probe's question: its search hits read whole (originals included).
Two summarisers: the offline model (the first sentence of each block) and a scripted stand-in for an abstractive
model (one sentence per summary, as a summary at a twentieth of its blocks' tokens keeps). Several seeds; mean and
spread. Everything runs through the service: the store, the compaction function's handler, the built
SearchIndexFunction fed from the table's stream, and the local embedder.
"""

import statistics
from typing import Any

SEEDS = (1, 2, 3, 4, 5)
RECALL_HITS = 5


def _stand_in(base: Any) -> Any:
    """A summariser that keeps one sentence per summary, whatever it covers: the gist, not the details."""

    class OneSentence(base):  # type: ignore[misc, valid-type]
        def summarise(self, model: Any, blocks: list[Any], limit: int) -> tuple[str, int]:
            text = super().summarise(None, blocks, limit)[0]
            return text.split("\n", 1)[0], 1

    return OneSentence


def _compact(tenant: str, session_id: str, queues: dict[str, str]) -> None:
    """Compaction to a quarter of the session's tokens, its legs run by the compaction function's handler."""
    from agentctx.services.auto_compaction import CompactionParams
    from agentctx.store.queue import sqs_client
    from agentctx.wiring import compaction_service
    from infra.local_worker import load_function_handler, sqs_event
    from tests.benchmarks.run import ROOT
    from tests.events import DeadlineContext

    handler = load_function_handler(str(ROOT / "functions" / "compaction" / "handler.py"))
    service = compaction_service()
    before = service.sessions.load(tenant, session_id).total_tokens
    job = service.request(tenant, session_id, CompactionParams(before // 4))
    while received := sqs_client().receive_message(QueueUrl=queues["CompactionQueue"]).get("Messages"):
        answer = handler(sqs_event(received, "arn:aws:sqs:us-east-1:123456789012:bench"), DeadlineContext(900))
        assert answer == {"batchItemFailures": []}, answer
        sqs_client().delete_message(QueueUrl=queues["CompactionQueue"], ReceiptHandle=received[0]["ReceiptHandle"])
    result = service.store.records.get_job(tenant, session_id[5:], job["orderKey"])
    assert result and result["status"] == "completed", result


def _replicate(seed: int, queues: dict[str, str], index: Any) -> dict[str, dict[str, int]]:
    from agentctx.domain import render_block_text
    from agentctx.services.artifact_ledger import LEDGER_TAG
    from agentctx.services.search import SessionRecaller
    from agentctx.wiring import context_store, search_service, session_service
    from tests.benchmarks.compaction_probes import count_answerable, long_session
    from tests.benchmarks.search_bench import write_sessions

    tenant = f"org_{seed:032d}"
    probed = long_session(seed)
    (session_id,), _ = write_sessions(tenant, [probed.session])
    index()
    _compact(tenant, session_id, queues)
    index()
    session = session_service().load(tenant, session_id)
    active = context_store().blocks.list_page(tenant, session.hex, limit=10**6, after=None, with_content=True).items
    kept = [render_block_text(block.type, block.content) for block in active]
    ledger = [render_block_text(b.type, b.content) for b in active if LEDGER_TAG in b.tags]
    recaller = SessionRecaller(search_service(), session)
    recalled: dict[str, int] = {}
    for probe in probed.probes:
        hits = recaller.search(probe.question, RECALL_HITS, None)
        read = recaller.read([str(hit["blockId"]) for hit in hits], 20_000)
        texts = kept + [str(block.get("text", "")) for block in read]
        for kind, count in count_answerable([probe], texts).items():
            recalled[kind] = recalled.get(kind, 0) + count
    return {
        "summaries": count_answerable(probed.probes, kept),
        "ledger": count_answerable(probed.probes, ledger),
        "recall": recalled,
        "probes": count_answerable(probed.probes, [render_block_text(*_typed(b)) for b in probed.session.blocks]),
    }


def _typed(block: Any) -> tuple[Any, Any]:
    from agentctx.domain import BlockType

    return BlockType(block.type), block.content


def _cell(values: list[float]) -> str:
    mean = statistics.mean(values)
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{mean:.0%} ± {spread:.0%}"


def compaction_recall_rows(seeds: tuple[int, ...] = SEEDS) -> list[str]:
    from agentctx.wiring import compaction_runner
    from infra.local_aws import local_aws
    from tests.benchmarks.compaction_probes import PROBE_KINDS
    from tests.benchmarks.run import BENCH_RESOURCES
    from tests.benchmarks.search_bench import stream_indexer

    rows = [
        "| summariser | what the reader has | " + " | ".join(PROBE_KINDS) + " | all |",
        "|---|---|" + "---|" * (len(PROBE_KINDS) + 1),
    ]
    for summariser in ("offline model", "stand-in"):
        outcomes = []
        with local_aws(BENCH_RESOURCES) as queues:
            writer = compaction_runner().writer
            if summariser == "stand-in":
                writer.summariser = _stand_in(type(writer.summariser))(
                    writer.summariser.provider_for, writer.summariser.encoding
                )
            index = stream_indexer()
            outcomes = [_replicate(seed, queues, index) for seed in seeds]
        readers = (
            ("(a) summaries, kept blocks, ledger", "summaries"),
            ("ledger alone", "ledger"),
            ("(b) (a) + session_recall", "recall"),
        )
        for label, key in readers:
            cells = [
                _cell([outcome[key][kind] / outcome["probes"][kind] for outcome in outcomes])
                for kind in (*PROBE_KINDS, "all")
            ]
            rows.append(f"| {summariser} | {label} | " + " | ".join(cells) + " |")
    rows.append(f"\n{len(seeds)} seeds; each session holds {outcomes[0]['probes']['all']} probes.")
    return rows


if __name__ == "__main__":
    from tests.benchmarks.run import bench_environment

    bench_environment()
    print("\n".join(compaction_recall_rows()))
