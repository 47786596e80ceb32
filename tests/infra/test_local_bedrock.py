"""Bedrock models under the embedded AWS: by default refused with a clear error and no network, and sent to Bedrock
when the local server is asked to (here Bedrock is a recording server on loopback, named as botocore finds an
endpoint: AWS_ENDPOINT_URL_BEDROCK_RUNTIME)."""

from collections.abc import Iterator

import pytest

from infra.local_aws import local_aws
from tests.conftest import RESOURCES
from tests.integration.test_invoke_api import parse_sse
from tests.providers.loopback import Loopback, Recorded, serve
from tests.providers.model_endpoints import STREAM_HEADERS, event

ANSWER = [
    event("messageStart", {"role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello from Bedrock."}}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event("messageStop", {"stopReason": "end_turn"}),
    event("metadata", {"usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16}, "metrics": {}}),
]


@pytest.fixture
def aws(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The embedded AWS; a test parametrized with `aws=True` has it let Bedrock's calls through."""
    with local_aws(RESOURCES, bedrock=getattr(request, "param", False)) as queues:
        yield queues


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loopback]:
    """A recording server as the Bedrock endpoint, answering one ConverseStream call."""
    from agentctx.providers.bedrock import bedrock_client

    with serve([Recorded(200, STREAM_HEADERS, ANSWER)]) as loopback:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", loopback.url)
        bedrock_client.cache_clear()  # a client made earlier would keep its endpoint
        yield loopback
    bedrock_client.cache_clear()


def create_bedrock_agent(api) -> str:  # type: ignore[no-untyped-def]
    """An agent on a Bedrock model (through any client that posts JSON with the tenant's key); its slug."""
    model = api.post(
        "/v1/models",
        json={
            "name": "Claude",
            "provider": "bedrock",
            "provider_model_id": "anthropic.claude-test",
            "context_window": 200_000,
            "max_output_tokens": 1_000,
        },
    ).json()
    agent = api.post(
        "/v1/agents",
        json={
            "name": "On Bedrock",
            "slug": "on-bedrock",
            "system_prompt": "Be brief.",
            "default_model_id": model["id"],
        },
    )
    assert agent.status_code == 201, agent.text
    return "on-bedrock"


@pytest.fixture
def bedrock_agent(api) -> str:  # type: ignore[no-untyped-def]
    return create_bedrock_agent(api)


def test_a_bedrock_model_is_refused_locally_with_the_way_to_enable_it_and_no_call_leaves(api, bedrock, bedrock_agent):
    answered = api.post("/v1/aip/invoke", json={"agent": bedrock_agent, "prompt": "hi"})
    streamed = api.post("/v1/aip/invoke", json={"agent": bedrock_agent, "prompt": "hi", "stream": True})

    assert answered.status_code == 502, answered.text
    error = answered.json()["error"]
    assert error["code"] == "model_error" and error["details"]["code"] == "unavailable"
    assert (
        error["message"].startswith("Bedrock is not reachable in local mode")
        and "AGENTCTX_BEDROCK=1" in error["message"]
    )
    name, data = parse_sse(streamed.text)[-1]
    assert streamed.status_code == 200 and name == "error"
    assert data["code"] == "unavailable" and data["message"] == error["message"]
    assert bedrock.requests == []


@pytest.mark.parametrize("aws", [True], indirect=True, ids=["bedrock passes through"])
def test_a_bedrock_model_is_called_at_bedrocks_endpoint_when_the_server_lets_it_through(api, bedrock, bedrock_agent):
    answered = api.post("/v1/aip/invoke", json={"agent": bedrock_agent, "prompt": "hi"})

    assert answered.status_code == 200, answered.text
    assert answered.json()["data"]["output"] == "Hello from Bedrock."
    [sent] = bedrock.requests
    assert sent["path"] == "/model/anthropic.claude-test/converse-stream"
    assert sent["body"]["messages"][-1]["content"] == [{"text": "hi"}]
