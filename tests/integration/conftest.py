"""Recording model endpoints as the service's Bedrock and OpenAI-compatible endpoints, and agents on their models.

A module that talks to the Bedrock endpoint lets Bedrock's calls through the embedded AWS: it overrides `aws` with
`bedrock_aws`."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.providers.loopback import Loopback
from tests.providers.model_endpoints import Answer, Script, bedrock_endpoint, default_script, openai_endpoint

CLAUDE = "us.anthropic.claude-sonnet-4-6"


def bedrock_aws() -> Iterator[dict[str, str]]:
    from infra.local_aws import local_aws
    from tests.conftest import RESOURCES

    with local_aws(RESOURCES, bedrock=True) as queues:
        yield queues


@dataclass
class Recorder:
    """An endpoint whose answers follow `script`, which a test may change between calls."""

    script: Script = default_script
    endpoint: Loopback = field(default_factory=lambda: Loopback(""))

    def answer(self, request: dict[str, Any], index: int) -> Answer:
        return self.script(request, index)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.endpoint.requests


@pytest.fixture
def bedrock_recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    from agentctx.providers.bedrock import bedrock_client

    recorder = Recorder()
    with bedrock_endpoint(recorder.answer) as endpoint:
        recorder.endpoint = endpoint
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", endpoint.url)
        bedrock_client.cache_clear()  # a client made earlier would keep its endpoint
        yield recorder
    bedrock_client.cache_clear()


@pytest.fixture
def openai_recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    from agentctx.settings import get_settings

    recorder = Recorder()
    with openai_endpoint(recorder.answer) as endpoint:
        recorder.endpoint = endpoint
        monkeypatch.setenv("OPENAI_BASE_URL", endpoint.url)
        get_settings.cache_clear()
        yield recorder
    get_settings.cache_clear()


def agent_on(api, provider: str, model_id: str, slug: str, capabilities: list[str] = ()) -> str:  # type: ignore[no-untyped-def]
    """An agent (its slug) on a new model of the tenant's."""
    model = api.post(
        "/v1/models",
        json={
            "name": slug,
            "provider": provider,
            "provider_model_id": model_id,
            "context_window": 200_000,
            "max_output_tokens": 1_000,
        },
    )
    assert model.status_code == 201, model.text
    agent = api.post(
        "/v1/agents",
        json={
            "name": slug,
            "slug": slug,
            "system_prompt": "You are a careful coding assistant. Answer briefly.",
            "default_model_id": model.json()["id"],
            "capabilities": [{"ref": ref} for ref in capabilities],
        },
    )
    assert agent.status_code == 201, agent.text
    return slug
