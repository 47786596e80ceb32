"""Reason and act: a turn's model calls and tool runs (the agent loop, with the context assembled from the session),
written to the event log as they happen, then the turn's answer (its blocks and output message) with its last
events, in one transaction."""

import json
from collections.abc import Callable
from typing import Any

from agentctx import ids
from agentctx.capabilities import ToolScope
from agentctx.domain import Block, Session, utc_now
from agentctx.errors import NotFound
from agentctx.providers.base import ToolUse
from agentctx.services.agent_loop import (
    AgentLoop,
    InvokeCommand,
    PreparedInvocation,
    StreamEvent,
    answer_blocks,
    tools_of,
)
from agentctx.services.block_builder import BlockBuilder
from agentctx.services.catalog import CatalogService, with_controls
from agentctx.services.context import ContextAssembler, Selection
from agentctx.services.message_text import public_message, text_of
from agentctx.services.session_agent import agent_of, merge_capabilities
from agentctx.services.token_usage import runtime_usage
from agentctx.services.turn_events import EventWriter


class ReasonAndAct:
    """Answers a turn's input message with the session's agent, writing what happens to the event log."""

    def __init__(
        self,
        catalog: CatalogService,
        loop: AgentLoop,
        builder: BlockBuilder,
        assembler: ContextAssembler,
        scope_for: Callable[[Session], ToolScope],
    ) -> None:
        self.catalog = catalog
        self.loop = loop
        self.builder = builder
        self.assembler = assembler
        self.scope_for = scope_for

    def run(self, writer: EventWriter, session: Session, message: dict[str, Any], usage: dict[str, int]) -> None:
        """Answer the turn's input message; `usage` takes the tokens it used."""
        prepared = self._prepare(session, message)
        prompt = prepared.command.prompt
        context = self.assembler.assemble(session, Selection(), prepared.context_budget, prompt=prompt)
        blocks = [block for block in context.selected if block.id != message["block_id"]]
        usage["contextTokens"] = sum(block.token_count for block in blocks)
        output_id = ids.MESSAGE_PREFIX + ids.new_hex()
        tool_calls: list[tuple[ToolUse, Any]] = []
        loop = self.loop.run(prepared, prepared.layout(blocks, context.enriched), usage, tool_calls)
        started = False
        text: list[str] = []
        iterations, acted = 1, False  # model calls: one more after each round of tool results
        call_id = ""
        while True:
            try:
                event: StreamEvent = next(loop)
            except StopIteration:
                break
            if event.name in ("text_delta", "tool_call") and acted:
                iterations, acted = iterations + 1, False
            if event.name == "text_delta":
                if not started:
                    started_data = {"message_id": output_id, "turn_id": writer.job.turn_id, "model": prepared.model.id}
                    writer.emit("output.message.started", started_data)
                    started = True
                text.append(event.data["content"])
                delta = {"message_id": output_id, "turn_id": writer.job.turn_id, "delta": event.data["content"]}
                writer.emit("output.message.delta", delta | {"index": len(text) - 1})  # `accumulated`: on read
            elif event.name == "llm_generation":
                # written with the next event, so a model call costs no write of its own
                call = {"turn_id": writer.job.turn_id, "model_id": event.data["model"]}
                writer.add("llm.generation", call | {"usage": runtime_usage(event.data["usage"])})
            elif event.name == "tool_call":
                call_id = ids.TOOL_CALL_PREFIX + ids.new_hex()
                call = {"id": call_id, "name": event.data["tool"], "arguments": event.data["input"]}
                writer.emit(
                    "tool.started", {"tool": event.data["tool"], "input": event.data["input"], "tool_call": call}
                )
            elif event.name == "tool_result":
                acted = True
                failed = event.data["isError"]
                writer.emit(
                    "tool.completed",
                    {
                        "tool": event.data["tool"],
                        "output": event.data["output"],
                        "is_error": failed,
                        "tool_call_id": call_id,
                        "tool_name": event.data["tool"],
                        "success": not failed,
                        "status": "error" if failed else "success",
                        "result": [{"type": "text", "text": as_text(event.data["output"])}],
                    },
                )
        self._complete(writer, session, "".join(text), output_id, tool_calls, usage, iterations)

    def _prepare(self, session: Session, message: dict[str, Any]) -> PreparedInvocation:
        agent = agent_of(self.catalog, session, {})
        if agent is None:
            raise NotFound("the session's agent no longer exists")
        runtime = session.runtime
        controls = message.get("controls") or {}
        model_id = controls.get("model_id") or (runtime.model_id if runtime else None) or agent.default_model_id
        model = with_controls(self.catalog.get_model(session.tenant_id, model_id), controls)
        tools, specs = tools_of(merge_capabilities(agent, runtime.capabilities if runtime else []))
        command = InvokeCommand(agent=agent.id, prompt=text_of(message["content"]), session_id=session.id)
        scope = self.scope_for(session)
        return PreparedInvocation(
            session.tenant_id, command, agent, model, session, message["order_key"], tools, specs, scope
        )

    def _complete(
        self,
        writer: EventWriter,
        session: Session,
        output: str,
        output_id: str,
        tool_calls: list[tuple[ToolUse, Any]],
        usage: dict[str, int],
        iterations: int = 1,
    ) -> None:
        now = utc_now()
        results = answer_blocks(tool_calls, output)
        blocks: list[Block] = [self.builder.build(session.hex, block, now) for block in results]
        messages = []
        if output:
            messages.append(
                {
                    "id": output_id,
                    "session_id": ids.RUNTIME_SESSION_PREFIX + session.hex,
                    "role": "agent",
                    "content": [{"type": "text", "text": output}],
                    "metadata": None,
                    "tags": [],
                    "turn_id": writer.job.turn_id,
                    "block_id": blocks[-1].id,
                    "order_key": blocks[-1].order_key,
                    "created_at": now,
                }
            )
            writer.add("output.message.completed", {"message": public_message(messages[0])})
        writer.finish(
            "turn.completed",
            {
                "blocks_created": [block.id for block in blocks],
                "iterations": iterations,
                "final_message_id": output_id if output else None,
                "tool_call_count": len(tool_calls),
            },
            usage,
            blocks=blocks,
            messages=messages,
            output=output,
        )


def as_text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
