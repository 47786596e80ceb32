"""Invocation figures: time to the first SSE byte and to the `start` event (warm, offline model, over HTTP on
loopback), and context assembly at growing session sizes beside langchain-core's trim_messages."""

import http.client
import json
import socket
import statistics
import threading
import time
from typing import Any

ASSEMBLY_SIZES = [100, 10_000, 100_000]
ASSEMBLY_BUDGET = 8_000
TTFB_RUNS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(app: Any) -> tuple[Any, int]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, port


def _stream_once(port: int, key: str, body: dict) -> tuple[float, float, float]:
    """Seconds from sending the request to: the first body byte, the complete `start` event, the last byte."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    payload = json.dumps(body)
    began = time.perf_counter()
    connection.request("POST", "/v1/aip/invoke", payload, {"X-API-Key": key, "Content-Type": "application/json"})
    response = connection.getresponse()
    first = response.read1(1)
    first_byte = time.perf_counter() - began
    received = first
    while b"event: start\ndata: " not in received or not received.split(b"event: start\ndata: ", 1)[1].count(b"\n\n"):
        received += response.read1(65536)
    start_event = time.perf_counter() - began
    while response.read1(65536):
        pass
    done = time.perf_counter() - began
    connection.close()
    return first_byte, start_event, done


def first_byte_times() -> list[str]:
    from agentctx.api.full import full_app
    from agentctx.schemas.blocks import BlockIn
    from agentctx.schemas.catalog import AgentCreate, CapabilityRefIn, ModelCreate
    from agentctx.schemas.sessions import SessionCreate
    from agentctx.wiring import block_service, catalog_service, session_service, tenant_service
    from infra.local_aws import local_aws
    from infra.local_server import DEMO_AGENT, DEMO_MODEL
    from tests.benchmarks.run import BENCH_RESOURCES

    with local_aws(BENCH_RESOURCES):
        tenant = tenant_service().create_tenant("bench")
        _, key = tenant_service().issue_key(tenant.id)
        model = catalog_service().create_model(tenant.id, ModelCreate(**DEMO_MODEL))
        catalog_service().create_agent(
            tenant.id,
            AgentCreate(**DEMO_AGENT, default_model_id=model.id, capabilities=[CapabilityRefIn(ref="current_time")]),
        )
        session = session_service().create(tenant.id, SessionCreate(name="ttfb")).session
        block_service().append(tenant.id, session.id, [BlockIn(type="note", content=f"note {i}") for i in range(50)])
        server, port = _serve(full_app())
        body = {"agent": "code-assistant", "prompt": "Continue", "session": session.id, "stream": True}
        for _ in range(5):
            _stream_once(port, key, body)
        runs = [_stream_once(port, key, body) for _ in range(TTFB_RUNS)]
        server.should_exit = True
    first, start, done = (statistics.median(run[i] for run in runs) * 1000 for i in range(3))
    return [
        f"| measure (median of {TTFB_RUNS}, warm) | ms |",
        "|---|---|",
        f"| first SSE byte | {first:.1f} |",
        f"| `start` event complete | {start:.1f} |",
        f"| whole invocation (offline model, 50-block session, saved) | {done:.1f} |",
    ]


def context_assembly() -> list[str]:
    from langchain_core.messages import HumanMessage, trim_messages

    from agentctx.domain import render_block_text
    from agentctx.services.context import ContextAssembler, Selection
    from agentctx.tokens import count_tokens
    from agentctx.wiring import context_store, session_service
    from infra.local_aws import local_aws
    from tests.benchmarks.run import BENCH_RESOURCES, _seed_session
    from tests.dynamo_calls import CallCounter

    rows = [
        "| blocks in session | ours: DynamoDB calls | ours: ms | blocks chosen | load all blocks: calls / ms "
        "| trim_messages on them: ms | ratio (load + trim) / ours |",
        "|---|---|---|---|---|---|---|",
    ]
    tenant = "org_" + "d" * 32
    for size in ASSEMBLY_SIZES:
        with local_aws(BENCH_RESOURCES):
            session = session_service().load(tenant, _seed_session(tenant, size))
            counter = CallCounter()
            assembler = ContextAssembler(context_store(), 500)
            assembler.assemble(session, Selection(include_pinned=False), ASSEMBLY_BUDGET)  # warm, as below
            with counter.measure() as ours:
                context = assembler.assemble(session, Selection(include_pinned=False), ASSEMBLY_BUDGET)
            with counter.measure() as loading:
                blocks = (
                    context_store()
                    .blocks.list_page(tenant, session.hex, limit=10**9, after=None, with_content=True)
                    .items
                )
            messages = [HumanMessage(content=render_block_text(block.type, block.content)) for block in blocks]

            def trim(messages: list = messages) -> list:
                return trim_messages(
                    messages,
                    max_tokens=ASSEMBLY_BUDGET,
                    token_counter=lambda batch: sum(count_tokens(str(message.content)) for message in batch),
                    strategy="last",
                )

            trim()
            began = time.perf_counter()
            kept = trim()
            trim_ms = (time.perf_counter() - began) * 1000
            assert len(kept) == len(context.blocks), (len(kept), len(context.blocks))
            ratio = (loading["ms"] + trim_ms) / ours["ms"]
            rows.append(
                f"| {size:,} | {ours['calls']} ({ours['detail']}) | {ours['ms']:.0f} | {len(context.blocks)} "
                f"| {loading['calls']} / {loading['ms']:.0f} | {trim_ms:.0f} | {ratio:.1f} |"
            )
    return rows
