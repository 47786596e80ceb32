"""What metering and Idempotency-Key add per request: DynamoDB calls and milliseconds, through the HTTP app."""

import statistics
import time
from collections import Counter
from typing import Any

RUNS = 20


def overhead_rows() -> list[str]:
    from fastapi.testclient import TestClient

    from agentctx.api.full import full_app
    from agentctx.idempotency import persistence
    from agentctx.schemas.catalog import AgentCreate, ModelCreate
    from agentctx.store.dynamo import dynamodb_client
    from agentctx.wiring import catalog_service, quota_guard, tenant_service
    from infra.local_aws import local_aws
    from infra.local_server import DEMO_AGENT, DEMO_MODEL
    from tests.benchmarks.run import BENCH_RESOURCES

    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    rows = ["| request | DynamoDB calls (by API) | median ms |", "|---|---|---|"]
    with local_aws(BENCH_RESOURCES):
        dynamodb_client().meta.events.register("before-call.dynamodb", count)
        persistence().client.meta.events.register("before-call.dynamodb", count)
        tenant = tenant_service().create_tenant("bench")
        _, key = tenant_service().issue_key(tenant.id)
        model = catalog_service().create_model(tenant.id, ModelCreate(**DEMO_MODEL))
        catalog_service().create_agent(tenant.id, AgentCreate(**DEMO_AGENT, default_model_id=model.id))
        http = TestClient(full_app())
        headers = {"X-API-Key": key}
        session = http.post("/v1/aip/sessions", json={"name": "s"}, headers=headers).json()["data"]["id"]

        def measure(name: str, send: Any) -> None:
            times = []
            for run in range(RUNS):
                calls.clear()
                began = time.perf_counter()
                send(run)
                times.append((time.perf_counter() - began) * 1000)
            detail = ", ".join(f"{api} {count}" for api, count in sorted(calls.items()))
            rows.append(f"| {name} | {sum(calls.values())} ({detail}) | {statistics.median(times):.1f} |")

        block = {"sessionId": session, "type": "note", "content": "a note"}
        invoke = {"agent": "code-assistant", "prompt": "hi", "session": session}
        measure("append a block", lambda run: http.post("/v1/aip/blocks", json=block, headers=headers))
        measure(
            "append a block with Idempotency-Key",
            lambda run: http.post("/v1/aip/blocks", json=block, headers=headers | {"Idempotency-Key": f"b{run}"}),
        )
        measure(
            "replay of that request",
            lambda run: http.post("/v1/aip/blocks", json=block, headers=headers | {"Idempotency-Key": f"b{run}"}),
        )
        measure("invoke (offline model, saved)", lambda run: http.post("/v1/aip/invoke", json=invoke, headers=headers))
        measure(
            "invoke with Idempotency-Key",
            lambda run: http.post("/v1/aip/invoke", json=invoke, headers=headers | {"Idempotency-Key": f"i{run}"}),
        )
        tenant_service().set_quotas(
            tenant.id, {"requestsPerSecond": None, "tokensPerMonth": 10**9, "storedTokens": 10**9}
        )
        quota_guard().forget(tenant.id)
        measure(
            "append a block, storage quota set", lambda run: http.post("/v1/aip/blocks", json=block, headers=headers)
        )
        measure("invoke, token quota set", lambda run: http.post("/v1/aip/invoke", json=invoke, headers=headers))
    return rows
