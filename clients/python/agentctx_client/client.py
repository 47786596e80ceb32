"""A typed client for both surfaces of the agent context service: AIP sessions, blocks, fork, compaction, invoke and
the rendered context (`/v1/aip`), and agent-runtime sessions with their messages and event log (`/v1/sessions`).

Lists are iterators that fetch the next page when the current one is used up; retries, idempotency keys and errors
are the transport's (agentctx_client/transport.py).
"""

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx

from agentctx_client.agent_sessions import AgentSessions
from agentctx_client.aip import Blocks, Sessions
from agentctx_client.models import INVOKE_EVENTS, Agent, InvokeEvent, InvokeResult, RenderedContext
from agentctx_client.transport import Http, parse_sse


class Client:
    """Both surfaces of the service. `base_url` and `api_key` default to AGENTCTX_URL and AGENTCTX_API_KEY."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("AGENTCTX_URL", "http://127.0.0.1:3000")
        api_key = api_key or os.environ.get("AGENTCTX_API_KEY")
        if not api_key:
            raise ValueError("no API key: pass api_key or set AGENTCTX_API_KEY")
        self._http = Http(base_url, api_key, timeout, retries, transport)
        self.sessions = Sessions(self._http)
        self.blocks = Blocks(self._http)
        self.agent_sessions = AgentSessions(self._http)

    def close(self) -> None:
        self._http.client.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def agents(self) -> Iterator[Agent]:
        return self._http.snake_pages("/v1/agents", {"limit": 100}, Agent)

    def _invoke_body(
        self,
        agent: str,
        prompt: str,
        session: str | None,
        include_by_tag: list[str] | None,
        max_tokens: int | None,
        enrichment: str | None,
        stream: bool,
    ) -> dict[str, Any]:
        context = {"includeByTag": include_by_tag, "maxTokens": max_tokens}
        body = {
            "agent": agent,
            "prompt": prompt,
            "session": session,
            "context": {key: value for key, value in context.items() if value is not None},
            "enrichment": enrichment,
            "stream": stream,
        }
        return {key: value for key, value in body.items() if value is not None}

    def invoke(
        self,
        agent: str,
        prompt: str,
        *,
        session: str | None = None,
        include_by_tag: list[str] | None = None,
        max_tokens: int | None = None,
        enrichment: str | None = None,
    ) -> InvokeResult:
        body = self._invoke_body(agent, prompt, session, include_by_tag, max_tokens, enrichment, stream=False)
        return InvokeResult.model_validate(self._http.request("POST", "/v1/aip/invoke", json_body=body)["data"])

    def invoke_stream(
        self,
        agent: str,
        prompt: str,
        *,
        session: str | None = None,
        include_by_tag: list[str] | None = None,
        max_tokens: int | None = None,
        enrichment: str | None = None,
    ) -> Iterator[InvokeEvent]:
        """The invocation's events as they arrive: TextDelta pieces of the answer, then InvokeCompleted (or
        InvokeFailed); other steps (start, context_assembled, tool_call, ...) as plain InvokeEvents."""
        body = self._invoke_body(agent, prompt, session, include_by_tag, max_tokens, enrichment, stream=True)
        with self._http.stream("POST", "/v1/aip/invoke", json_body=body) as response:
            for name, _, data in parse_sse(response.iter_lines()):
                payload = json.loads(data)
                yield INVOKE_EVENTS.get(name, InvokeEvent)(event=name, data=payload)

    def context(
        self,
        prompt: str,
        *,
        session: str | None = None,
        agent: str | None = None,
        system_prompt: str | None = None,
        format: str | None = None,
        block_ids: list[str] | None = None,
        include_by_tag: list[str] | None = None,
        exclude_by_tag: list[str] | None = None,
        include_pinned: bool | None = None,
        max_tokens: int | None = None,
        enrichment: str | None = None,
    ) -> RenderedContext:
        """The assembled context for a prompt, for your own agent loop: `format` is text, openai, anthropic or
        bedrock (default: the model's own). With `agent`, exactly what invoking that agent would send; nothing is
        written and no model is called."""
        context = {
            "blockIds": block_ids,
            "includeByTag": include_by_tag,
            "excludeByTag": exclude_by_tag,
            "includePinned": include_pinned,
            "maxTokens": max_tokens,
        }
        body = {
            "prompt": prompt,
            "session": session,
            "agent": agent,
            "systemPrompt": system_prompt,
            "context": {key: value for key, value in context.items() if value is not None},
            "enrichment": enrichment,
            "format": format,
        }
        body = {key: value for key, value in body.items() if value is not None}
        response = self._http.request("POST", "/v1/aip/context", json_body=body, keyed=False)
        return RenderedContext.model_validate(response["data"])
