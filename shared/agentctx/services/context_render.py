"""The assembled context for a caller's own agent loop (`POST /v1/aip/context`): the same preparation, assembly and
rendering as an invocation's first model call, answered instead of sent. With an agent named it is the preview of
what invoking that agent would send; without one, a made-up agent with the caller's system prompt, no tools, and the
tenant's default model. Nothing is written and no model is called."""

from dataclasses import replace
from typing import Any

from agentctx import ids
from agentctx.domain import BUILT_IN_TIMESTAMP, DEFAULT_MODEL_HEX, Agent, Model, Provider
from agentctx.providers.base import CachePoint, ModelRequest
from agentctx.providers.bedrock import converse_arguments
from agentctx.providers.formats import anthropic_messages_body, plain_text
from agentctx.providers.openai_compat import chat_body
from agentctx.services.agent_loop import InvokeCommand
from agentctx.services.invocations import InvocationService

# The provider whose cache rules a format follows when it is not the model's own.
_FORMAT_PROVIDER = {"bedrock": Provider.BEDROCK, "anthropic": Provider.BEDROCK, "openai": Provider.OPENAI}
_NATIVE_FORMAT = {Provider.BEDROCK: "bedrock", Provider.OPENAI: "openai", Provider.OFFLINE: "text"}


def payload(request: ModelRequest, format_name: str) -> dict[str, Any]:
    if format_name == "bedrock":
        return converse_arguments(request)
    if format_name == "openai":
        return chat_body(request)
    if format_name == "anthropic":
        return anthropic_messages_body(request)
    return {"text": plain_text(request)}


def cache_points(request: ModelRequest) -> int:
    parts = [*request.system, *(part for message in request.messages for part in message.parts)]
    return sum(isinstance(part, CachePoint) for part in parts) + (request.tools_cache is not None)


class ContextRenderer:
    def __init__(self, invocations: InvocationService) -> None:
        self.invocations = invocations

    def render(
        self, tenant_id: str, command: InvokeCommand, system_prompt: str | None, format_name: str | None
    ) -> dict[str, Any]:
        agent = None if command.agent else self._callers_agent(tenant_id, system_prompt or "")
        prepared = self.invocations.prepare(tenant_id, command, agent)
        format_name = format_name or _NATIVE_FORMAT[prepared.model.provider]
        if format_name != _NATIVE_FORMAT[prepared.model.provider]:
            prepared.model = self._as_provider(prepared.model, format_name)
        context = self.invocations.assemble(prepared)
        layout = prepared.layout(context.selected, context.enriched)
        request = layout.model_request(layout.first_messages())
        return {
            "format": format_name,
            "agent": prepared.agent.slug if command.agent else None,
            "model": prepared.model.id,
            "block_ids": context.block_ids,
            "enriched_block_ids": context.enriched_ids,
            "token_count": context.token_count,
            "sections": layout.sections,
            "cache_points": cache_points(request),
            "payload": payload(request, format_name),
        }

    @staticmethod
    def _callers_agent(tenant_id: str, system_prompt: str) -> Agent:
        """The agent of a request that names none: the caller's system prompt, no tools, the default model."""
        default_model = ids.MODEL_PREFIX + DEFAULT_MODEL_HEX
        return Agent(tenant_id, "0" * 32, "context", "", system_prompt, default_model, [], BUILT_IN_TIMESTAMP, "")

    @staticmethod
    def _as_provider(model: Model, format_name: str) -> Model:
        """The model as the format's provider sees it: its cache rules (text: none)."""
        return replace(model, provider=_FORMAT_PROVIDER.get(format_name, Provider.OFFLINE))
