"""Agent-runtime figures: DynamoDB calls of the /v1/sessions operations and of one turn, the latency from a
message accepted to its first `output.message.delta` (offline model, the turn worker on the embedded FIFO queue),
and how many events per second one session's SSE stream delivers."""

import http.client
import json
import os
import statistics
import time
from typing import Any

LATENCY_RUNS = 20
STREAMED_EVENTS = 5_000


def _seconds_between(earlier: str, later: str) -> float:
    from datetime import datetime

    parse = lambda value: datetime.fromisoformat(value.replace("Z", "+00:00"))  # noqa: E731
    return (parse(later) - parse(earlier)).total_seconds()


def _sse_events(
    port: int, key: str, path: str, wanted: int, until: str | None = None
) -> tuple[list[dict[str, Any]], float]:
    """The first `wanted` events of an SSE stream (or those up to the first of type `until`), and the seconds from
    connecting to the last of them."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    began = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    buffer, events = b"", []
    while len(events) < wanted and not (until and events and events[-1]["type"] == until):
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        *frames, buffer = buffer.split(b"\n\n")
        for frame in frames:
            data = [line[6:] for line in frame.split(b"\n") if line.startswith(b"data: ")]
            if data:
                events.append(json.loads(data[0]))
    elapsed = time.perf_counter() - began
    connection.close()
    return events[:wanted], elapsed


def turn_figures() -> list[str]:
    os.environ["TURN_QUEUE_URL"] = "https://sqs.us-east-1.amazonaws.com/123456789012/bench-turns.fifo"
    os.environ["SSE_POLL_SECONDS"] = "0.05"
    from agentctx.api.full import full_app
    from agentctx.schemas.catalog import AgentCreate, CapabilityRefIn, ModelCreate
    from agentctx.schemas.runtime import MessageCreate, RuntimeSessionCreate
    from agentctx.settings import get_settings
    from agentctx.store.turn_jobs import TurnJob
    from agentctx.wiring import (
        catalog_service,
        context_store,
        event_query_service,
        runtime_message_service,
        runtime_service,
        tenant_service,
        turn_service,
    )
    from infra.local_aws import local_aws
    from infra.local_server import DEMO_AGENT, DEMO_MODEL
    from infra.local_worker import QueueWorker, load_function_handler
    from tests.benchmarks.invoke_bench import _serve
    from tests.benchmarks.run import BENCH_RESOURCES, ROOT
    from tests.dynamo_calls import CallCounter

    get_settings.cache_clear()
    rows = ["| operation | DynamoDB calls | calls by API | wall ms |", "|---|---|---|---|"]
    with local_aws(BENCH_RESOURCES) as queues:
        tenant = tenant_service().create_tenant("bench")
        _, key = tenant_service().issue_key(tenant.id)
        model = catalog_service().create_model(tenant.id, ModelCreate(**DEMO_MODEL))
        agent = catalog_service().create_agent(
            tenant.id,
            AgentCreate(**DEMO_AGENT, default_model_id=model.id, capabilities=[CapabilityRefIn(ref="current_time")]),
        )
        service, counter = runtime_service(), CallCounter()
        create = RuntimeSessionCreate(agent_id=agent.id, title="bench", capabilities=[{"ref": "web_fetch"}])
        message = MessageCreate.model_validate({"message": {"content": [{"type": "text", "text": "Go on"}]}})
        warm = "session_" + service.create(tenant.id, create).session.hex
        runtime_message_service().post_message(tenant.id, warm, message)  # the SQS client is made on first use
        with counter.measure() as created:
            view = service.create(tenant.id, create)
        session_id = "session_" + view.session.hex
        with counter.measure() as read:
            service.get(tenant.id, session_id)
        with counter.measure() as posted:
            sent = runtime_message_service().post_message(tenant.id, session_id, message)
        job = TurnJob(tenant.id, view.session.hex, 1)  # the session's first turn
        with counter.measure() as turned:
            turn_service().run(job)
        with counter.measure() as listed:
            event_query_service().read(tenant.id, session_id, None, 100)
        for name, figures in [
            ("POST /v1/sessions", created),
            ("GET /v1/sessions/{id} (features from the agent)", read),
            ("POST /v1/sessions/{id}/messages (record + queue)", posted),
            ("one turn, offline model, no tools (turn function)", turned),
            ("GET /v1/sessions/{id}/events (one page)", listed),
        ]:
            rows.append(f"| {name} | {figures['calls']} | {figures['detail']} | {figures['ms']:.0f} |")

        turns = QueueWorker(
            queues["TurnQueue"], load_function_handler(str(ROOT / "functions" / "turns" / "handler.py"))
        )
        turns.start()
        server, port = _serve(full_app())
        written_after, received_after = [], []
        for _ in range(LATENCY_RUNS):
            session_id = "session_" + service.create(tenant.id, create).session.hex
            sent = runtime_message_service().post_message(tenant.id, session_id, message)
            accepted = time.perf_counter()
            path = f"/v1/sessions/{session_id}/sse"
            events, _ = _sse_events(port, key, path, wanted=10**6, until="output.message.delta")
            received_after.append(time.perf_counter() - accepted)
            written_after.append(_seconds_between(sent["created_at"], events[-1]["ts"]))
        rows_latency = [
            f"| measure (median of {LATENCY_RUNS}) | figure |",
            "|---|---|",
            f"| message accepted → first `output.message.delta` in the event log | "
            f"{statistics.median(written_after) * 1000:.0f} ms |",
            f"| message accepted → first `output.message.delta` at an SSE client (poll every 50 ms) | "
            f"{statistics.median(received_after) * 1000:.0f} ms |",
        ]

        # one session's event log, prefilled, streamed from the start
        session = service.create(tenant.id, create).session
        event_log, written = context_store().events, 0
        while written < STREAMED_EVENTS:
            batch = [{"type": "output.message.delta", "data": {"delta": f"word{written + i} "}} for i in range(99)]
            event_log.append(tenant.id, session.hex, written, batch, "2026-01-01T00:00:00.000Z")
            written += len(batch)
        events, seconds = _sse_events(port, key, f"/v1/sessions/session_{session.hex}/sse", wanted=written)
        assert [e["sequence"] for e in events] == list(range(1, written + 1))
        rows_latency.append(
            f"| SSE delivery of one session's {written:,} logged events | {written / seconds:,.0f} events/s |"
        )
        server.should_exit = True
        turns.stop()
    return rows + [""] + rows_latency + _dispatch_latency()


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _dispatch_latency() -> list[str]:
    """Message accepted (its 201 received over HTTP) to its turn's `turn.started` and first `output.message.delta`
    in the log, for one message at a time and for 20 posted at once to one session (the turn worker polling the
    embedded FIFO queue), in a fresh embedded AWS (moto copies a table per transaction, so a big table slows every
    write). A session's turns run one after another, so in a burst most of a message's wait is the turns ahead of
    it; the dispatch delay is what it waited beyond that: from the later of its 201 and the end of the turn before
    it, to its own `turn.started`."""
    from agentctx.api.full import full_app
    from agentctx.schemas.catalog import AgentCreate, ModelCreate
    from agentctx.schemas.runtime import RuntimeSessionCreate
    from agentctx.wiring import catalog_service, runtime_service, tenant_service
    from infra.local_aws import local_aws
    from infra.local_server import DEMO_AGENT, DEMO_MODEL
    from infra.local_worker import QueueWorker, load_function_handler
    from tests.benchmarks.invoke_bench import _serve
    from tests.benchmarks.run import BENCH_RESOURCES, ROOT

    with local_aws(BENCH_RESOURCES) as queues:
        tenant_id = tenant_service().create_tenant("dispatch").id
        _, key = tenant_service().issue_key(tenant_id)
        model = catalog_service().create_model(tenant_id, ModelCreate(**DEMO_MODEL))
        agent = catalog_service().create_agent(tenant_id, AgentCreate(**DEMO_AGENT, default_model_id=model.id))
        create = RuntimeSessionCreate(agent_id=agent.id, title="dispatch")
        turns = QueueWorker(
            queues["TurnQueue"], load_function_handler(str(ROOT / "functions" / "turns" / "handler.py"))
        )
        turns.start()
        server, port = _serve(full_app())
        try:
            return _dispatch_rows(port, key, runtime_service(), tenant_id, create)
        finally:
            server.should_exit = True
            turns.stop()


def _dispatch_rows(port: int, key: str, service: Any, tenant_id: str, create: Any) -> list[str]:
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    rows = [
        "| messages posted at once to one session | samples | to `turn.started` median / p99 | "
        "to first `output.message.delta` median / p99 | dispatch delay median / p99 |",
        "|---|---|---|---|---|",
    ]
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=60)
    ms = lambda values, share: _percentile(values, share) * 1000  # noqa: E731
    for burst, rounds in ((1, 20), (20, 3)):
        started_after, delta_after, delays = [], [], []
        for _ in range(rounds):
            session_id = "session_" + service.create(tenant_id, create).session.hex

            def post(index: int, session_id: str = session_id) -> tuple[str, float]:
                body = {"message": {"content": [{"type": "text", "text": f"Go on {index}"}]}}
                response = client.post(f"/v1/sessions/{session_id}/messages", json=body)
                return response.json()["id"], time.time()

            with ThreadPoolExecutor(max_workers=burst) as pool:
                accepted = dict(pool.map(post, range(burst)))
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                events = client.get(f"/v1/sessions/{session_id}/events", params={"limit": 1000}).json()["data"]
                if sum(e["type"] == "turn.completed" for e in events) == burst:
                    break
                time.sleep(0.05)
            first: dict[tuple[str, str], float] = {}
            for event in events:
                first.setdefault((event["context"].get("input_message_id"), event["type"]), _epoch(event["ts"]))
            previous_end = 0.0
            for event in events:
                if event["type"] == "turn.started" and event["data"].get("attempt", 1) == 1:
                    message_id = event["context"]["input_message_id"]
                    started_after.append(first[(message_id, "turn.started")] - accepted[message_id])
                    delta_after.append(first[(message_id, "output.message.delta")] - accepted[message_id])
                    delays.append(max(0.0, _epoch(event["ts"]) - max(accepted[message_id], previous_end)))
                elif event["type"] == "turn.completed":
                    previous_end = _epoch(event["ts"])
        rows.append(
            f"| {burst} | {len(started_after)} | {statistics.median(started_after) * 1000:.0f} / "
            f"{ms(started_after, 0.99):.0f} ms | {statistics.median(delta_after) * 1000:.0f} / "
            f"{ms(delta_after, 0.99):.0f} ms | {statistics.median(delays) * 1000:.0f} / {ms(delays, 0.99):.0f} ms |"
        )
    client.close()
    return [""] + rows
