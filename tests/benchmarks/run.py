"""`make bench`: cold import times, DynamoDB calls per operation, and wall times against the embedded store.

Prints markdown tables; docs/performance.md records a run. Everything runs on this machine, against moto.
"""

import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.template import load_template, local_names, logical_ids, resource_environment
from tests.dynamo_calls import CallCounter

ROOT = Path(__file__).resolve().parents[2]
SIZES = [10, 1_000, 10_000]
RUNS = 5
BENCH_RESOURCES = local_names("bench")


def _fresh_import_ms(statement: str, pythonpath: str) -> float:
    code = f"import time; s = time.perf_counter(); {statement}; print((time.perf_counter() - s) * 1000)"
    # Lambda cannot write bytecode next to our read-only code, so our modules compile on every cold start.
    env = {**os.environ, "PYTHONPATH": pythonpath, "PYTHONDONTWRITEBYTECODE": "1"}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(output.stdout.strip())


def function_folders() -> list[str]:
    """Each function's folder under functions/, in the template's order."""
    template = load_template()
    functions = logical_ids("AWS::Serverless::Function", template)
    return [Path(template["Resources"][function]["Properties"]["CodeUri"]).name for function in functions]


def import_times() -> list[str]:
    shared = str(ROOT / "shared")
    boto3_ms = statistics.median(_fresh_import_ms("import boto3", shared) for _ in range(RUNS))
    rows = [
        "| module | median of 5 (ms) | × import boto3 |",
        "|---|---|---|",
        f"| `import boto3` | {boto3_ms:.0f} | 1.00 |",
    ]
    for name in function_folders():
        path = f"{ROOT / 'functions' / name}{os.pathsep}{shared}"
        module = "handler" if (ROOT / "functions" / name / "handler.py").exists() else "app"
        ms = statistics.median(_fresh_import_ms(f"import {module}", path) for _ in range(RUNS))
        rows.append(f"| functions/{name}/{module}.py | {ms:.0f} | {ms / boto3_ms:.2f} |")
    return rows


def _seed_session(tenant: str, blocks: int) -> str:
    """A session with `blocks` notes, written the way fork writes them (BatchWriteItem), to keep set-up fast."""
    from agentctx import ids
    from agentctx.domain import Session, utc_now
    from agentctx.schemas.blocks import BlockIn
    from agentctx.wiring import block_builder, context_store

    now = utc_now()
    session = Session(tenant_id=tenant, hex=ids.new_hex(), name=f"{blocks} blocks", created_at=now, updated_at=now)
    built = [
        block_builder().build(
            session.hex,
            BlockIn(type="note", content=f"note {i}: " + "context " * 20, tags=[f"t{i % 10}"], pinned=i % 100 == 0),
            now,
        )
        for i in range(blocks)
    ]
    session.total_tokens = sum(block.token_count for block in built)
    session.block_count = len(built)
    session.pinned_count = sum(1 for block in built if block.pinned)
    context_store().sessions.create(session, built)
    return session.id


def dynamodb_operations() -> list[str]:
    from infra.local_aws import local_aws

    rows = [
        "| operation | blocks in session | DynamoDB calls | calls by API | wall ms |",
        "|---|---|---|---|---|",
    ]

    def row(name: str, size: int | str, run: Callable[[], Any], counter: CallCounter) -> None:
        with counter.measure() as result:
            run()
        rows.append(f"| {name} | {size} | {result['calls']} | {result['detail']} | {result['ms']:.0f} |")

    tenant = "org_" + "b" * 32
    for size in SIZES:
        with local_aws(BENCH_RESOURCES):
            _operations_at(size, tenant, row, CallCounter())
    return rows


def _operations_at(size: int, tenant: str, row: Callable[..., None], counter: "CallCounter") -> None:
    from agentctx.schemas.blocks import BlockIn
    from agentctx.schemas.sessions import SessionCreate, SessionFork
    from agentctx.wiring import block_service, session_service

    session_id = _seed_session(tenant, size)
    note = BlockIn(type="note", content="one more note about the auth flow", tags=["t1"])
    if size == SIZES[0]:
        row(
            "create session",
            0,
            lambda: session_service().create(tenant, SessionCreate(name="s", tags=["a", "b"])),
            counter,
        )
        row("list sessions (20)", "-", lambda: session_service().list_page(tenant, None, 20, None), counter)
        row("list sessions by tag", "-", lambda: session_service().list_page(tenant, "a", 20, None), counter)
    row("append one block", size, lambda: block_service().append(tenant, session_id, [note]), counter)
    row("append a batch of 100", size, lambda: block_service().append(tenant, session_id, [note] * 100), counter)
    row("get session", size + 101, lambda: session_service().get(tenant, session_id), counter)
    row(
        "list blocks (50, no content)",
        size + 101,
        lambda: block_service().list_page(
            tenant,
            session_id,
            limit=50,
            cursor=None,
            include_content=False,
            block_type=None,
            tag=None,
            pinned=None,
        ),
        counter,
    )
    row(
        "fork (tag t1, pinned)",
        size + 101,
        lambda: session_service().fork(
            tenant,
            session_id,
            SessionFork(name="fork", include_by_tag=["t1"], include_pinned=True),
        ),
        counter,
    )
    row("delete session", size + 101, lambda: session_service().delete(tenant, session_id), counter)


def bench_environment() -> None:
    """The embedded store's environment, as every benchmark runs in it. The artifact bench reuses the tests' helpers,
    and importing tests/conftest.py sets the tests' environment (their table names): imported here first, and what
    it set undone, so that no benchmark runs against tables it did not create."""
    sys.path[:0] = [str(ROOT), str(ROOT / "shared")]
    before = dict(os.environ)
    import tests.conftest  # noqa: F401

    os.environ.clear()
    os.environ.update(before)
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            **resource_environment(BENCH_RESOURCES),
            "POWERTOOLS_METRICS_NAMESPACE": "AgentContextBench",
            "POWERTOOLS_METRICS_DISABLED": "true",  # keep the turn worker's metric lines out of the figures
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )


def main() -> None:
    bench_environment()
    print("## Cold import of each function's handler (fresh process)\n")
    print("\n".join(import_times()))

    from tests.benchmarks.artifact_import_bench import artifact_import_times

    print("\n## Cold import from the built artifacts (`make package`, bare interpreter, as Lambda runs them)\n")
    print("\n".join(artifact_import_times()))
    print("\n## DynamoDB calls and wall time per operation (embedded moto store)\n")
    print("\n".join(dynamodb_operations()))

    from tests.benchmarks.fork_bench import fork_rows

    print("\n## A sparse fork by tag: the request's calls and the fork's first page before its copy job runs\n")
    print("\n".join(fork_rows()))

    from tests.benchmarks.invoke_bench import ASSEMBLY_BUDGET, context_assembly, first_byte_times

    print("\n## Streaming invocation: time to first byte (uvicorn on loopback, offline model)\n")
    print("\n".join(first_byte_times()))
    print(f"\n## Context assembly under an {ASSEMBLY_BUDGET:,}-token budget (newest blocks, no filters)\n")
    print("\n".join(context_assembly()))

    from tests.benchmarks.compaction_bench import compaction_runs
    from tests.benchmarks.overhead_bench import overhead_rows

    print("\n## What metering and Idempotency-Key add (through the HTTP app, key lookup cached)\n")
    print("\n".join(overhead_rows()))

    print("\n## Compaction to a quarter of the session's tokens (stand-in model: 2 s a call; preserveRecent 5)\n")
    print("\n".join(compaction_runs()))

    from tests.benchmarks.turn_bench import turn_figures

    print("\n## Agent-runtime sessions: calls per operation, turn latency, SSE delivery (offline model)\n")
    print("\n".join(turn_figures()))

    from tests.benchmarks.mcp_bench import mcp_rows

    print("\n## MCP beside REST (warm, uvicorn on loopback)\n")
    print("\n".join(mcp_rows()))

    from tests.benchmarks.cache_bench import cache_rows

    print("\n## Model input served from the provider's cache (recording endpoints, both surfaces)\n")
    print("\n".join(cache_rows()))

    from tests.benchmarks.compaction_recall_bench import compaction_recall_rows
    from tests.benchmarks.search_bench import retrieval_rows
    from tests.benchmarks.search_cost_bench import search_cost_rows

    print("\n## Search: retrieval quality on the labelled corpus (local embedder), lexical, semantic and hybrid\n")
    print("\n".join(retrieval_rows()))
    print("\n## Compaction recall: probes answerable after compaction to a quarter, without and with session_recall\n")
    print("\n".join(compaction_recall_rows()))
    print("\n## Search: calls and latency as the tenant grows (embedded store)\n")
    print("\n".join(search_cost_rows()))

    from tests.benchmarks.local_durability_bench import WRITE_SECONDS, durability_rows
    from tests.benchmarks.local_state_bench import writes_held_at_100_mb

    print(
        f"\n## `make serve` under writers for {WRITE_SECONDS:g} s, then kill -9: latency and acknowledged writes lost\n"
    )
    print("\n".join(durability_rows()))
    print(f"\nA snapshot meanwhile: {writes_held_at_100_mb()}")

    from tests.benchmarks import sse_bench

    print("\n## `make serve` with open event streams: a session listing beside them, and the server's threads\n")
    print("\n".join(sse_bench.rows()))

    from tests.benchmarks.bounded_bench import bounded_rows

    print("\n## Requests at 1,000, 10,000 and 100,000 blocks: calls, capacity units, response bytes\n")
    print("\n".join(bounded_rows()))


if __name__ == "__main__":
    main()
