"""A turn's model calls, against a recording Bedrock endpoint: native turns, the prefix the next turn reads, the
cache usage it reports on the turn's events and the session's usage, and the context endpoint's preview equal to
what the turn then sends."""

import json

import pytest

from tests.integration.conftest import CLAUDE, agent_on, bedrock_aws
from tests.integration.test_cache_aware_requests import FILE, without_points
from tests.integration.turns.helpers import events_of, say

aws = pytest.fixture(bedrock_aws)


def claude_session(api) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """A runtime session of a Claude agent with files and notes (about 10,000 tokens): its runtime id, its AIP id,
    and the agent's slug."""
    slug = agent_on(api, "bedrock", CLAUDE, "claude", ["current_time"])
    agent_id = next(agent["id"] for agent in api.get("/v1/agents").json()["data"] if agent["slug"] == slug)
    runtime_id = api.post("/v1/sessions", json={"agent_id": agent_id}).json()["id"]
    aip_id = "sess_" + runtime_id.removeprefix("session_")
    blocks = [{"type": "file", "content": {"path": f"src/app{n}.py", "content": FILE}} for n in range(5)]
    response = api.post(f"/v1/aip/sessions/{aip_id}/blocks", json={"blocks": blocks})
    assert response.status_code == 201, response.text
    return runtime_id, aip_id, slug


def test_turns_send_native_turns_that_the_next_turn_reads_and_report_its_cache_usage(api, run_turns, bedrock_recorder):
    runtime_id, aip_id, slug = claude_session(api)
    preview = api.post("/v1/aip/context", json={"agent": slug, "prompt": "First question", "session": aip_id})

    for text in ("First question", "Second question", "Third question"):
        api.post(f"/v1/sessions/{runtime_id}/messages", json=say(text))
        run_turns()

    bodies = [sent["body"] for sent in bedrock_recorder.requests]
    payload = preview.json()["data"]["payload"]
    assert payload.pop("modelId") == CLAUDE and payload == bodies[0]  # the preview is what the turn sent
    last = bodies[-1]["messages"]
    assert [message["role"] for message in last] == ["user", "assistant", "user", "assistant", "user"]
    assert last[1]["content"] == [{"text": "Answer number 1."}] and last[-1]["content"][0] == {"text": "Third question"}
    for earlier, later in zip(bodies, bodies[1:], strict=False):
        sent, then = without_points(earlier), without_points(later)
        assert json.dumps(then["messages"][: len(sent["messages"])]) == json.dumps(sent["messages"])
    reported = [sent["usage"] for sent in bedrock_recorder.requests]
    assert all(usage["cacheReadInputTokens"] > 9_000 for usage in reported[1:])

    events = events_of(api, runtime_id)
    generations = [event["data"]["usage"] for event in events if event["type"] == "llm.generation"]
    assert [usage["cache_read_tokens"] for usage in generations] == [u["cacheReadInputTokens"] for u in reported]
    completed = [event["data"]["usage"] for event in events if event["type"] == "turn.completed"]
    assert [usage["cache_creation_tokens"] for usage in completed] == [u["cacheWriteInputTokens"] for u in reported]
    usage = api.get(f"/v1/sessions/{runtime_id}").json()["usage"]
    assert usage["cache_read_tokens"] == sum(u["cacheReadInputTokens"] for u in reported)
