"""Compaction of sessions of 100, 1,000 and 10,000 blocks on the offline model: wall time, DynamoDB calls,
tokens before and after, summaries made (each is one model call on a real model)."""

COMPACTION_SIZES = [100, 1_000, 10_000]


def compaction_runs() -> list[str]:
    from agentctx.services.auto_compaction import CompactionParams
    from agentctx.wiring import compaction_service
    from infra.local_aws import local_aws
    from tests.benchmarks.run import BENCH_RESOURCES, CallCounter, _seed_session

    rows = [
        "| blocks | tokens before | target | tokens after | blocks compacted | summaries (model calls on a real model) "
        "| offline model calls | DynamoDB calls | wall ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    tenant = "org_" + "f" * 32
    for size in COMPACTION_SIZES:
        with local_aws(BENCH_RESOURCES):
            session_id = _seed_session(tenant, size)
            service = compaction_service()
            before = service.sessions.load(tenant, session_id).total_tokens
            target = before // 4
            job = service.request(tenant, session_id, CompactionParams(target))
            counter = CallCounter()
            with counter.measure() as measured:
                result = service.run(tenant, session_id[5:], job["orderKey"])
            assert result and result["status"] == "completed", result
            after = service.sessions.load(tenant, session_id).total_tokens
            assert after == result["newTokens"] <= target
            rows.append(
                f"| {size:,} | {before:,} | {target:,} | {after:,} | {result['blocksCompacted']:,} "
                f"| {result['summariesCreated']} | {result['modelCalls']} | {measured['calls']} ({measured['detail']}) "
                f"| {measured['ms']:.0f} |"
            )
    return rows
