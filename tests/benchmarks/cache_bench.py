"""What a session costs in model input: runs through the HTTP app against recording Bedrock (Claude's caching rules:
cache points, minimum tokens, 20-block lookback) and OpenAI-compatible (automatic prefix caching, 1,024 tokens in
128-token steps) endpoints on loopback, on both surfaces. Per run: the share of input tokens the provider served
from its cache, and the input cost relative to sending the same tokens uncached (Claude: reads 0.1x, writes 1.25x;
OpenAI: cached 0.5x)."""

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

CHAT_TURNS = 20
TOOL_STEPS = 10
FILE = "def handler(event, context):\n    return {'statusCode': 200, 'body': event}\n" * 100  # ~2,000 tokens


class _Script:
    """The endpoints' answers, changed between runs."""

    def __init__(self) -> None:
        from tests.providers.model_endpoints import default_script

        self.script = default_script

    def __call__(self, request: dict[str, Any], index: int) -> Any:
        return self.script(request, index)


@contextmanager
def _service() -> Iterator[tuple[Any, dict[str, str], _Script, Any, Any]]:
    """The full app with the embedded AWS letting Bedrock through to the recording endpoints; a tenant's client."""
    from fastapi.testclient import TestClient

    from agentctx.api.full import full_app
    from agentctx.providers.bedrock import bedrock_client
    from agentctx.settings import get_settings
    from agentctx.wiring import tenant_service
    from infra.local_aws import local_aws
    from tests.benchmarks.run import BENCH_RESOURCES
    from tests.providers.model_endpoints import bedrock_endpoint, openai_endpoint

    script = _Script()
    with ExitStack() as stack:
        bedrock = stack.enter_context(bedrock_endpoint(script))
        openai = stack.enter_context(openai_endpoint(script))
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
                "OPENAI_BASE_URL": openai.url,
                "MAX_AGENT_STEPS": str(TOOL_STEPS + 2),
                "TURN_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-turns.fifo",
            }
        )
        get_settings.cache_clear()
        bedrock_client.cache_clear()
        queues = stack.enter_context(local_aws(BENCH_RESOURCES, bedrock=True))
        tenant = tenant_service().create_tenant("cache-bench")
        _, key = tenant_service().issue_key(tenant.id)
        client = TestClient(full_app(), headers={"Authorization": f"Bearer {key}"})
        yield client, queues, script, bedrock, openai
    get_settings.cache_clear()
    bedrock_client.cache_clear()


def _fill(client: Any, session: str, conventions: bool = False) -> None:
    """About 10,000 tokens of files and notes, and an earlier exchange; with `conventions`, also a pinned note of
    about 1,500 tokens (pinned blocks outlive compaction)."""
    blocks: list[dict[str, Any]] = (
        [
            {
                "type": "note",
                "pinned": True,
                "content": "Conventions: " + "type hints, small functions, tests first. " * 190,
            }
        ]
        if conventions
        else []
    )
    blocks += [{"type": "file", "content": {"path": f"src/app{n}.py", "content": FILE}} for n in range(5)]
    blocks += [
        {"type": "note", "content": f"Decision {n}: keep the table on-demand; deploy with SAM."} for n in range(5)
    ]
    blocks += [{"type": "conversation", "content": [{"role": "user", "content": "Where is the handler?"}]}]
    blocks += [{"type": "conversation", "content": [{"role": "assistant", "content": "In src/app0.py."}]}]
    response = client.post(f"/v1/aip/sessions/{session}/blocks", json={"blocks": blocks})
    assert response.status_code == 201, response.text


def _aip_session(client: Any, conventions: bool = False) -> str:
    session = client.post("/v1/aip/sessions", json={"name": "cache bench"}).json()["data"]["id"]
    _fill(client, session, conventions)
    return session


def _invoke(client: Any, agent: str, session: str, prompt: str) -> None:
    response = client.post("/v1/aip/invoke", json={"agent": agent, "prompt": prompt, "session": session})
    assert response.status_code == 200, response.text


def _drain(queues: dict[str, str], queue: str, folder: str) -> None:
    from infra.local_worker import QueueWorker, load_function_handler
    from tests.benchmarks.run import ROOT

    worker = QueueWorker(queues[queue], load_function_handler(str(ROOT / "functions" / folder / "handler.py")))
    while worker.poll(wait_seconds=0):
        pass


def _chat(client: Any, agent: str, queues: dict[str, str], compact_at: int | None = None) -> None:
    session = _aip_session(client, conventions=compact_at is not None)
    for turn in range(CHAT_TURNS):
        if turn == compact_at:
            total = client.get(f"/v1/aip/sessions/{session}").json()["data"]["metrics"]["totalTokens"]
            body = {"targetTokens": total // 4, "preserveRecent": 4}
            response = client.post(f"/v1/aip/sessions/{session}/compact", json=body)
            assert response.status_code == 202, response.text
            _drain(queues, "CompactionQueue", "compaction")
            assert client.get(f"/v1/aip/sessions/{session}").json()["data"]["metrics"]["compactionCount"] == 1
        _invoke(client, agent, session, f"Question {turn}: what should change in src/app{turn % 5}.py?")


def _turns_chat(client: Any, agent_id: str, queues: dict[str, str]) -> None:
    created = client.post("/v1/sessions", json={"agent_id": agent_id, "title": "cache bench"})
    assert created.status_code == 201, created.text
    runtime_id = created.json()["id"]
    _fill(client, "sess_" + runtime_id.removeprefix("session_"))
    for turn in range(CHAT_TURNS):
        message = {"message": {"content": [{"type": "text", "text": f"Question {turn}: what changed?"}]}}
        assert client.post(f"/v1/sessions/{runtime_id}/messages", json=message).status_code == 201
        _drain(queues, "TurnQueue", "turns")


def _tool_loop(client: Any, agent: str, script: _Script) -> None:
    from tests.providers.model_endpoints import call_tool

    script.script = call_tool("current_time", TOOL_STEPS)
    _invoke(client, agent, _aip_session(client), "Check the time ten times, then answer.")


def cache_rows() -> list[str]:
    from tests.integration.conftest import CLAUDE, agent_on
    from tests.providers.model_endpoints import bedrock_summary, default_script, openai_summary

    rows = [
        "| surface | run | provider's rules | model calls | input tokens | read from cache | written to cache "
        "| input cost vs uncached |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with _service() as (client, queues, script, bedrock, openai):
        slugs = {
            "bedrock": agent_on(client, "bedrock", CLAUDE, "claude", ["current_time"]),
            "openai": agent_on(client, "openai", "gpt-5", "gpt", ["current_time"]),
        }
        agents = {agent["slug"]: agent["id"] for agent in client.get("/v1/agents").json()["data"]}
        agents = {provider: agents[slug] for provider, slug in slugs.items()}
        runs: list[tuple[str, str, Callable[[str], None]]] = [
            ("AIP invoke", f"{CHAT_TURNS}-turn chat, 10,000-token session", lambda p: _chat(client, slugs[p], queues)),
            (
                "/v1/sessions turns",
                f"{CHAT_TURNS}-turn chat, 10,000-token session",
                lambda p: _turns_chat(client, agents[p], queues),
            ),
            ("AIP invoke", f"{TOOL_STEPS}-step tool loop", lambda p: _tool_loop(client, slugs[p], script)),
            (
                "AIP invoke",
                f"{CHAT_TURNS}-turn chat, a pinned 1,500-token note, compacted after turn {CHAT_TURNS // 2}",
                lambda p: _chat(client, slugs[p], queues, compact_at=CHAT_TURNS // 2),
            ),
        ]
        for surface, name, run in runs:
            for provider, endpoint, summary, rules in (
                ("bedrock", bedrock, bedrock_summary, "Claude on Bedrock"),
                ("openai", openai, openai_summary, "OpenAI"),
            ):
                script.script = default_script
                start = len(endpoint.requests)
                run(provider)
                usages = [sent["usage"] for sent in endpoint.requests[start:] if sent["usage"]]
                figures = summary(usages)
                rows.append(
                    f"| {surface} | {name} | {rules} | {len(usages)} | {figures.input_tokens:,} | "
                    f"{figures.read_share:.1%} | {figures.written_tokens:,} | {figures.relative_cost:.2f}x |"
                )
    return rows
