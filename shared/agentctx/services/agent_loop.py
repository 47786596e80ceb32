"""The agent loop: model, tools, model ... until the model answers without tools, or a step or tool-call limit.

Both ways of running an agent drive it: an invocation (services/invocations.py, which streams its events to the
client) and a turn (services/turns.py, which writes them to the session's event log). It yields the events in order
(thinking, text_delta, tool_call, what a tool produces such as file_edit or dev_url, tool_result, and
llm_generation with each model call's usage) and returns the output; usage and the tool calls made are added to what
the caller passes in.
"""

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from agentctx import ids
from agentctx.capabilities import CATALOGUE, Capability, ToolResult, ToolScope, ToolSpec
from agentctx.domain import Agent, Block, BlockType, CapabilityRef, Model, Session
from agentctx.observability import logger
from agentctx.providers.base import (
    ChatMessage,
    ModelProvider,
    Part,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolResultPart,
    ToolUse,
    ToolUsePart,
    Usage,
)
from agentctx.schemas.blocks import BlockIn
from agentctx.services.context import Enrichment, EnrichmentConfig, Selection
from agentctx.services.rendering import Layout, layout
from agentctx.services.token_usage import add_call
from agentctx.tokens import count_tokens


@dataclass
class InvokeCommand:
    agent: str
    prompt: str
    session_id: str | None = None
    selection: Selection = field(default_factory=Selection)
    enrichment: Enrichment = Enrichment.NONE
    enrichment_config: EnrichmentConfig = field(default_factory=EnrichmentConfig)
    save_to_session: bool = True


@dataclass
class StreamEvent:
    name: str
    data: dict[str, Any]


@dataclass
class PreparedInvocation:
    tenant_id: str
    command: InvokeCommand
    agent: Agent
    model: Model
    session: Session | None
    order_key: str
    tools: dict[str, tuple[Capability, dict[str, Any]]]
    specs: list[ToolSpec]
    scope: ToolScope = field(default_factory=ToolScope)

    @property
    def id(self) -> str:
        return ids.INVOCATION_PREFIX + self.order_key

    @property
    def context_budget(self) -> int:
        """The tokens left for context in the model's window once the system prompt, the prompt and the answer
        have their room: the same for an invocation and for a turn."""
        reserve = count_tokens(self.agent.system_prompt + self.command.prompt) + self.model.max_output_tokens
        return max(0, self.model.context_window - reserve)

    def layout(self, blocks: list[Block], enriched: list[Block]) -> Layout:
        """The layout of this invocation's model calls, with the context assembled for it."""
        cache_key = self.session.id if self.session else None
        return layout(
            self.model, self.agent.system_prompt, self.specs, blocks, enriched, self.command.prompt, cache_key
        )

    @property
    def call_estimate(self) -> int:
        """The most one model call of the invocation uses (prompts, the context it may assemble, the longest
        answer; tool definitions left out), within the model's window: what the monthly token quota holds for it."""
        budget = self.context_budget
        context = min(budget, self.command.selection.max_tokens or budget) if self.session else 0
        return self.model.context_window - budget + context


def tools_of(capabilities: list[CapabilityRef]) -> tuple[dict[str, tuple[Capability, dict[str, Any]]], list[ToolSpec]]:
    """The tools the capabilities bring, by name with their capability and config, and their specs in order."""
    tools: dict[str, tuple[Capability, dict[str, Any]]] = {}
    specs: list[ToolSpec] = []
    for ref in capabilities:
        capability = CATALOGUE[ref.ref]
        for spec in capability.tools():
            tools[spec.name] = (capability, ref.config)
            specs.append(spec)
    return tools, specs


def answer_blocks(tool_calls: list[tuple[ToolUse, ToolResult]], output: str) -> list[BlockIn]:
    """What an answer leaves in its session: a tool result block per tool call, then the output as the assistant's
    conversation block (none without output)."""
    blocks = [
        BlockIn(type=BlockType.TOOL_RESULT, content={"tool": use.name, "input": use.input, "output": result.output})
        for use, result in tool_calls
    ]
    if output:
        blocks.append(BlockIn(type=BlockType.CONVERSATION, content=[{"role": "assistant", "content": output}]))
    return blocks


def _as_text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, sort_keys=True)


class AgentLoop:
    """The model/tool loop, within `max_steps` model calls and `max_tool_calls` tool calls."""

    def __init__(self, provider_for: Callable[[Model], ModelProvider], max_steps: int, max_tool_calls: int) -> None:
        self.provider_for = provider_for
        self.max_steps = max_steps
        self.max_tool_calls = max_tool_calls

    def run(
        self,
        prepared: PreparedInvocation,
        layout: Layout,
        usage: dict[str, int],
        tool_calls: list[tuple[ToolUse, ToolResult]],
    ) -> Generator[StreamEvent, None, str]:
        """Model, tools, model ... until the model answers without tools, or the step or tool-call limit; returns
        the output. A call past the tool-call limit is not run: the model is told so, and asked to answer without
        tools (still listed, so the prefix it has cached stays the same); a tool call it makes anyway is not run."""
        provider = self.provider_for(prepared.model)
        messages = layout.first_messages()
        previous_end: tuple[int, int] | None = None
        output: list[str] = []
        for step in range(self.max_steps):
            # The last allowed step, or any after the tool-call limit, wants an answer, not a tool call.
            last = step == self.max_steps - 1 or len(tool_calls) >= self.max_tool_calls
            request = layout.model_request(messages, previous_end, "none" if last else "auto")
            text: list[str] = []
            uses: list[ToolUse] = []
            for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    yield StreamEvent("text_delta", {"content": event.text})
                elif isinstance(event, ThinkingDelta):
                    yield StreamEvent("thinking", {"content": event.text})
                elif isinstance(event, ToolUse):
                    uses.append(event)
                elif isinstance(event, Usage):
                    call = add_call(usage, prepared.model, event)
                    yield StreamEvent("llm_generation", {"model": prepared.model.id, "usage": call})
            output.append("".join(text))
            if not uses or last:
                break
            previous_end = (len(messages) - 1, len(messages[-1].parts))
            parts: list[Part] = [TextPart("".join(text))] if text else []
            parts += [ToolUsePart(use.id, use.name, use.input) for use in uses]
            messages.append(ChatMessage("assistant", parts))
            results: list[Part] = []
            for use in uses:
                if len(tool_calls) >= self.max_tool_calls:
                    limit = f"not run: this turn reached its limit of {self.max_tool_calls} tool calls; answer now"
                    results.append(ToolResultPart(use.id, use.name, limit, True))
                    continue
                yield StreamEvent("tool_call", {"tool": use.name, "input": use.input})
                result = self._run_tool(prepared, use)
                for name, data in result.events:
                    yield StreamEvent(name, data)
                yield StreamEvent(
                    "tool_result", {"tool": use.name, "output": result.output, "isError": result.is_error}
                )
                tool_calls.append((use, result))
                results.append(ToolResultPart(use.id, use.name, _as_text(result.output), result.is_error))
            messages.append(ChatMessage("user", results))
        return "".join(output)

    @staticmethod
    def _run_tool(prepared: PreparedInvocation, use: ToolUse) -> ToolResult:
        if use.name not in prepared.tools:
            return ToolResult({"error": f"the agent has no tool {use.name!r}"}, is_error=True)
        capability, config = prepared.tools[use.name]
        try:
            return capability.run(use.name, use.input, config, prepared.scope)
        except Exception:
            logger.exception("tool failed", extra={"tool": use.name})
            return ToolResult({"error": f"tool {use.name} failed"}, is_error=True)
