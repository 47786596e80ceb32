"""MCP beside REST, warm, over HTTP on loopback (uvicorn, the full app, embedded store): `tools/list`, and
`assemble_context` beside `POST /v1/aip/context` on the same session. Raw JSON-RPC requests on the 2025-11-25
revision, so the figures are the server's, not a client library's."""

import http.client
import json
import statistics
import time
from typing import Any

RUNS = 50
MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def _median_ms(port: int, path: str, body: dict[str, Any], headers: dict[str, str]) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
        times.append((time.perf_counter() - began) * 1000)
    connection.close()
    return statistics.median(times)


def mcp_rows() -> list[str]:
    from agentctx.api.full import full_app
    from agentctx.schemas.blocks import BlockIn
    from agentctx.schemas.sessions import SessionCreate
    from agentctx.wiring import block_service, session_service, tenant_service
    from infra.local_aws import local_aws
    from tests.benchmarks.invoke_bench import _serve
    from tests.benchmarks.run import BENCH_RESOURCES

    with local_aws(BENCH_RESOURCES):
        tenant = tenant_service().create_tenant("mcp-bench")
        _, key = tenant_service().issue_key(tenant.id)
        session = session_service().create(tenant.id, SessionCreate(name="bench")).session
        notes = [BlockIn(type="note", content=f"decision {n}: keep the table on-demand " * 10) for n in range(50)]
        block_service().append(tenant.id, session.id, notes)
        server, port = _serve(full_app())
        auth = {"Authorization": f"Bearer {key}"}
        context = {"sessionId": session.id, "prompt": "What did we decide?", "maxTokens": 4_000}

        def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
            return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}

        listed = _median_ms(port, "/mcp", rpc("tools/list", {}), MCP_HEADERS | auth)
        assembled = _median_ms(
            port, "/mcp", rpc("tools/call", {"name": "assemble_context", "arguments": context}), MCP_HEADERS | auth
        )
        rest_body = {"session": session.id, "prompt": context["prompt"], "context": {"maxTokens": 4_000}}
        rest = _median_ms(port, "/v1/aip/context", rest_body, {"Content-Type": "application/json"} | auth)
        server.should_exit = True
    return [
        f"| request (median of {RUNS}, warm) | ms |",
        "|---|---|",
        f"| MCP `tools/list` | {listed:.1f} |",
        f"| MCP `tools/call` `assemble_context` (50 notes, 4,000-token budget) | {assembled:.1f} |",
        f"| REST `POST /v1/aip/context`, the same | {rest:.1f} |",
    ]
