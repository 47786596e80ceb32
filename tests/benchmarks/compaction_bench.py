"""Compaction at production sizes with a stand-in model that takes 2 s a call (the latency of a 1,000-token
Bedrock summary): the compaction function's handler runs each queued leg with a context whose remaining time runs
down from the template's Timeout, as Lambda's does. Prints model calls, invocations, the longest invocation, wall
time, and the summaries the session is left with."""

import os
import sys
import time
from typing import Any

# BENCH_COMPACTION_SIZES=10000,30000 to choose; each size is a fresh embedded store.
COMPACTION_SIZES = [int(size) for size in os.environ.get("BENCH_COMPACTION_SIZES", "10000,100000").split(",")]
MODEL_SECONDS = 2.0


WORDS = ["we", "rotate", "refresh", "tokens", "after", "login", "and", "cache", "the", "schema", "per", "tenant"]


def realistic_blocks(count: int) -> list[Any]:
    """An agent's session as it grows: turns of a user message, the assistant's message calling a tool, the tool's
    result and a note, each 150-300 tokens, one tag of ten each, every hundredth block pinned."""
    from agentctx.schemas.blocks import BlockIn

    blocks = []
    for i in range(count):
        text = f"Block {i}: " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(145 + (i * 37) % 146))
        content: Any = text
        kind = ("conversation", "conversation", "tool_result", "note")[i % 4]
        if i % 4 == 0:
            content = [{"role": "user", "content": text}]
        elif i % 4 == 1:
            content = [{"role": "assistant", "content": text}]
        elif i % 4 == 2:
            content = {"tool": "grep", "input": {"pattern": f"p{i}"}, "output": text}
        blocks.append(BlockIn(type=kind, content=content, tags=[f"t{i % 10}"], pinned=i % 100 == 0))
    return blocks


def seed_session(tenant: str, count: int) -> str:
    """A session of `count` realistic blocks, written through the store in batches (BatchWriteItem, as fork
    writes them), not request by request."""
    from agentctx import ids
    from agentctx.domain import Session, utc_now
    from agentctx.wiring import block_builder, context_store

    now = utc_now()
    session = Session(tenant_id=tenant, hex=ids.new_hex(), name=f"{count} blocks", created_at=now, updated_at=now)
    built = [block_builder().build(session.hex, block, now) for block in realistic_blocks(count)]
    session.total_tokens = sum(block.token_count for block in built)
    session.block_count = len(built)
    session.pinned_count = sum(1 for block in built if block.pinned)
    context_store().sessions.create(session, built)
    return session.id


def compaction_runs() -> list[str]:
    from agentctx.services.auto_compaction import CompactionParams
    from agentctx.services.compaction_summariser import Summariser
    from agentctx.store.queue import sqs_client
    from agentctx.wiring import compaction_runner, compaction_service
    from infra.local_aws import local_aws
    from infra.local_worker import load_function_handler, sqs_event
    from tests.benchmarks.run import BENCH_RESOURCES, ROOT
    from tests.dynamo_calls import CallCounter
    from tests.events import DeadlineContext
    from tests.template.conftest import functions, sam_template

    class StandInModel(Summariser):
        """Sleeps like a model call, then answers with the extractive summary (cut to the budget)."""

        def summarise(self, model: Any, blocks: list[Any], limit: int) -> tuple[str, int]:
            time.sleep(MODEL_SECONDS)
            return super().summarise(None, blocks, limit)[0], 1

    timeout = functions(sam_template())["CompactionFunction"]["Timeout"]
    handler = load_function_handler(str(ROOT / "functions" / "compaction" / "handler.py"))
    rows = [
        f"| blocks | tokens before | target | model calls (tiers) | invocations | longest invocation (timeout "
        f"{timeout} s) | wall time | blocks compacted | summaries left (tokens) | tokens after | DynamoDB calls |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    tenant = "org_" + "f" * 32
    for size in COMPACTION_SIZES:
        with local_aws(BENCH_RESOURCES) as queues:
            seeding = time.perf_counter()
            session_id = seed_session(tenant, size)
            print(f"{size:,} blocks seeded in {time.perf_counter() - seeding:.0f} s", file=sys.stderr, flush=True)
            service, steps = compaction_service(), compaction_runner().writer
            steps.summariser = StandInModel(steps.summariser.provider_for, steps.summariser.encoding)
            before = service.sessions.load(tenant, session_id).total_tokens
            target = before // 4
            counter = CallCounter()
            started = time.perf_counter()
            with counter.measure() as measured:
                job = service.request(tenant, session_id, CompactionParams(target))
                invocations, longest = 0, 0.0
                while True:
                    received = sqs_client().receive_message(QueueUrl=queues["CompactionQueue"]).get("Messages")
                    if not received:
                        break
                    invocation_started = time.perf_counter()
                    answer = handler(
                        sqs_event(received, "arn:aws:sqs:us-east-1:123456789012:bench"), DeadlineContext(timeout)
                    )
                    took = time.perf_counter() - invocation_started
                    longest = max(longest, took)
                    invocations += 1
                    progress = service.store.records.get_job(tenant, session_id[5:], job["orderKey"]) or {}
                    read = (progress.get("scan") or {}).get("blocks", 0)
                    steps = f"{progress.get('stepsDone', 0)}/{progress.get('plan', {}).get('steps', '?')}"
                    print(
                        f"{size:,} blocks, invocation {invocations}: {took:.0f} s; blocks read {read:,}, steps {steps}",
                        file=sys.stderr,
                        flush=True,
                    )
                    assert answer == {"batchItemFailures": []}, answer
                    sqs_client().delete_message(
                        QueueUrl=queues["CompactionQueue"], ReceiptHandle=received[0]["ReceiptHandle"]
                    )
            wall = time.perf_counter() - started
            result = service.store.records.get_job(tenant, session_id[5:], job["orderKey"])
            assert result and result["status"] == "completed", result
            active = service.store.blocks.list_page(tenant, session_id[5:], limit=10**9, after=None, with_content=False)
            summaries = [block for block in active.items if block.type.value == "summary"]
            after = service.sessions.load(tenant, session_id).total_tokens
            assert after == result["newTokens"] <= target
            rows.append(
                f"| {size:,} | {before:,} | {target:,} | {result['modelCalls']:,} ({result['plan']['tiers']}) "
                f"| {invocations} | {longest:.0f} s | {wall:.0f} s | {result['blocksCompacted']:,} "
                f"| {len(summaries)} ({sum(block.token_count for block in summaries):,}) | {after:,} "
                f"| {measured['calls']:,} ({measured['detail']}) |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    from tests.benchmarks.run import bench_environment

    bench_environment()
    print("\n".join(compaction_runs()))
