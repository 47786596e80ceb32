"""Invoking an agent: context assembly, the model/tool loop, the event stream, and saving to the session.

`prepare` resolves everything that can fail with a plain HTTP error (agent, model, session) before a stream
starts; `run` then yields the seed's events in order: start (before the model is called), context_assembled,
thinking / text_delta / tool_call / tool_result (and file_edit, dev_url where a tool produces them), and
complete or error. A failure after the stream began ends it with an error event, never a silent cut.
"""

import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentctx import ids, metering
from agentctx.capabilities import CATALOGUE, Capability, ToolResult, ToolScope, ToolSpec
from agentctx.capabilities.base import SessionFiles
from agentctx.domain import Agent, Block, BlockType, CapabilityRef, Model, Session, render_block_text, utc_now
from agentctx.errors import Conflict, InvalidRequest, NotFound, Throttled, UpstreamFailed
from agentctx.observability import logger
from agentctx.providers.base import (
    ChatMessage,
    ModelProvider,
    ModelRequest,
    Part,
    ProviderError,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolResultPart,
    ToolUse,
    ToolUsePart,
    Usage,
)
from agentctx.schemas import BlockIn
from agentctx.schemas.invoke import InvokeRequest
from agentctx.services.blocks import BlockService
from agentctx.services.catalog import CatalogService
from agentctx.services.context import AssembledContext, ContextAssembler, Enrichment, EnrichmentConfig, Selection
from agentctx.services.sessions import SessionService
from agentctx.store.context_store import ContextStore
from agentctx.store.records import RecordKind
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


def render_system(system_prompt: str, blocks: list[Block]) -> str:
    """The agent's system prompt followed by the assembled context, one labelled section a block."""
    if not blocks:
        return system_prompt
    rendered = [
        f"[block {block.id} type={block.type.value} tags={','.join(block.tags)}]\n"
        + render_block_text(block.type, block.content)
        for block in blocks
    ]
    return f"{system_prompt}\n\n# Session context\n\n" + "\n\n".join(rendered)


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


def _as_text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, sort_keys=True)


class InvocationService:
    def __init__(
        self,
        catalog: CatalogService,
        sessions: SessionService,
        blocks: BlockService,
        store: ContextStore,
        assembler: ContextAssembler,
        provider_for: Callable[[Model], ModelProvider],
        max_steps: int,
        max_tool_calls: int,
        files_for: Callable[[str, str], SessionFiles],
    ) -> None:
        self.catalog = catalog
        self.sessions = sessions
        self.blocks = blocks
        self.store = store
        self.assembler = assembler
        self.provider_for = provider_for
        self.max_steps = max_steps
        self.max_tool_calls = max_tool_calls
        self.files_for = files_for

    def prepare(self, tenant_id: str, command: InvokeCommand) -> PreparedInvocation:
        agent = self.catalog.resolve_agent(tenant_id, command.agent)
        try:
            model = self.catalog.get_model(tenant_id, agent.default_model_id)
        except NotFound as missing:
            raise Conflict(
                f"agent {agent.slug} names model {agent.default_model_id}, which no longer exists"
            ) from missing
        session = self.sessions.load(tenant_id, command.session_id) if command.session_id else None
        self._check_block_ids(session, command.selection.block_ids)
        tools, specs = tools_of(agent.capabilities)
        scope = ToolScope(self.files_for(tenant_id, session.hex) if session else None)
        return PreparedInvocation(tenant_id, command, agent, model, session, ids.new_order_key(), tools, specs, scope)

    def _check_block_ids(self, session: Session | None, block_ids: list[str]) -> None:
        """Every explicit context block must be a block of the invocation's session: checked before anything is
        written, so a bad id is a 400 that changes nothing."""
        if not block_ids:
            return
        if session is None:
            raise InvalidRequest("context.blockIds needs a session: blocks are read from the invocation's session")
        keys = []
        for block_id in block_ids:
            parsed = ids.parse_block_id(block_id)
            if parsed is None or parsed[0] != session.hex:
                raise InvalidRequest(f"context.blockIds: block {block_id!r} is not in session {session.id}")
            keys.append(parsed[1])
        missing = self.store.blocks.missing(session.tenant_id, session.hex, keys, session.copy)
        if missing:
            raise InvalidRequest(
                f"context.blockIds: block {ids.block_id(session.hex, missing[0])} is not in session {session.id}"
            )

    def invoke(self, prepared: PreparedInvocation) -> dict[str, Any]:
        """Run to the end: the complete event's payload, or the error event as a domain error."""
        for event in self.run(prepared):
            if event.name == "complete":
                return event.data
            if event.name == "error":
                details = {"code": event.data["code"], "invocationId": prepared.id}
                if event.data["code"] == "throttled":
                    raise Throttled(event.data["message"], details)
                raise UpstreamFailed(event.data["message"], details)
        raise AssertionError("an invocation ends with complete or error")

    def run(self, prepared: PreparedInvocation) -> Iterator[StreamEvent]:
        started = utc_now()
        yield StreamEvent("start", {"invocationId": prepared.id, "agent": prepared.agent.slug})
        usage = {"contextTokens": 0, "inputTokens": 0, "outputTokens": 0}
        tool_calls: list[tuple[ToolUse, ToolResult]] = []
        context: AssembledContext | None = None
        try:
            self._record_start(prepared, started)
            context = self._assemble(prepared)
            usage["contextTokens"] = context.token_count
            yield StreamEvent(
                "context_assembled",
                {
                    "tokenCount": context.token_count,
                    "blocksIncluded": len(context.blocks),
                    "blockIds": context.block_ids,
                },
            )
            output = yield from self.agent_loop(
                prepared, render_system(prepared.agent.system_prompt, context.blocks), usage, tool_calls
            )
        except ProviderError as error:
            yield from self._fail(prepared, started, usage, context, error.code, error.message)
            return
        except Exception:  # a bug or an AWS failure mid-stream still ends the stream with an error event
            logger.exception("invocation failed", extra={"invocation_id": prepared.id})
            yield from self._fail(prepared, started, usage, context, "internal_error", "the invocation failed")
            return
        blocks_created = self._save(prepared, started, usage, context, output, tool_calls)
        metering.add(invocations=1, **usage)
        yield StreamEvent(
            "complete",
            {
                "id": prepared.id,
                "status": "completed",
                "output": output,
                "agent": prepared.agent.slug,
                "session": prepared.session.id if prepared.session else None,
                "blocksCreated": blocks_created,
                "usage": usage,
                "context": {"blockIds": context.block_ids, "tokenCount": context.token_count},
            },
        )

    def _record_start(self, prepared: PreparedInvocation, started: str) -> None:
        """A running record, so that the start is a committed change (published as `Invocation Started`) and the
        invocation is listed while it runs; the final record replaces it."""
        if prepared.session is None or not prepared.command.save_to_session:
            return
        record = self._invocation_record(prepared, started, None, [], None, None, status="running")
        self.store.records.put_invocation(prepared.tenant_id, prepared.session.hex, record)

    def _assemble(self, prepared: PreparedInvocation) -> AssembledContext:
        command, model = prepared.command, prepared.model
        reserve = count_tokens(prepared.agent.system_prompt + command.prompt) + model.max_output_tokens
        budget = max(0, model.context_window - reserve)
        if prepared.session is None:
            return AssembledContext([], 0, budget)
        return self.assembler.assemble(
            prepared.session,
            command.selection,
            budget,
            prompt=command.prompt,
            enrichment=command.enrichment,
            enrichment_config=command.enrichment_config,
        )

    def agent_loop(
        self,
        prepared: PreparedInvocation,
        system: str,
        usage: dict[str, int],
        tool_calls: list[tuple[ToolUse, ToolResult]],
    ) -> Generator[StreamEvent, None, str]:
        """Model, tools, model ... until the model answers without tools, or the step or tool-call limit; returns
        the output. A call past the tool-call limit is not run: the model is told so, and offered no more tools."""
        provider = self.provider_for(prepared.model)
        messages = [ChatMessage("user", [TextPart(prepared.command.prompt)])]
        output: list[str] = []
        for step in range(self.max_steps):
            # The last allowed step, or any after the tool-call limit, offers no tools, so the model has to answer.
            tools = prepared.specs if step < self.max_steps - 1 and len(tool_calls) < self.max_tool_calls else []
            text: list[str] = []
            uses: list[ToolUse] = []
            for event in provider.stream(ModelRequest(prepared.model, system, messages, tools)):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    yield StreamEvent("text_delta", {"content": event.text})
                elif isinstance(event, ThinkingDelta):
                    yield StreamEvent("thinking", {"content": event.text})
                elif isinstance(event, ToolUse):
                    uses.append(event)
                elif isinstance(event, Usage):
                    usage["inputTokens"] += event.input_tokens
                    usage["outputTokens"] += event.output_tokens
            output.append("".join(text))
            parts: list[Part] = [TextPart("".join(text))] if text else []
            parts += [ToolUsePart(use.id, use.name, use.input) for use in uses]
            messages.append(ChatMessage("assistant", parts))
            if not uses:
                break
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

    def _fail(
        self,
        prepared: PreparedInvocation,
        started: str,
        usage: dict[str, int],
        context: AssembledContext | None,
        code: str,
        message: str,
    ) -> Iterator[StreamEvent]:
        try:
            self._record(prepared, started, usage, context, [], None, {"code": code, "message": message})
        except Exception:
            logger.exception("could not record the failed invocation", extra={"invocation_id": prepared.id})
        metering.add(invocations=1, **usage)
        yield StreamEvent("error", {"message": message, "code": code, "invocationId": prepared.id})

    def _save(
        self,
        prepared: PreparedInvocation,
        started: str,
        usage: dict[str, int],
        context: AssembledContext,
        output: str,
        tool_calls: list[tuple[ToolUse, ToolResult]],
    ) -> list[str]:
        blocks = [
            BlockIn(type=BlockType.TOOL_RESULT, content={"tool": use.name, "input": use.input, "output": result.output})
            for use, result in tool_calls
        ]
        if output:
            blocks.append(BlockIn(type=BlockType.CONVERSATION, content=[{"role": "assistant", "content": output}]))
        return self._record(prepared, started, usage, context, blocks, output, None)

    def _record(
        self,
        prepared: PreparedInvocation,
        started: str,
        usage: dict[str, int],
        context: AssembledContext | None,
        results: list[BlockIn],
        output: str | None,
        error: dict[str, str] | None,
    ) -> list[str]:
        """With a session and saveToSession: the prompt, tool results and output become blocks (tagged with the
        invocation's includeByTag, so a later invocation with the same filter sees them), and the invocation is
        recorded and counted on the session, in one transaction. An ephemeral invocation saves nothing."""
        session, command = prepared.session, prepared.command
        if session is None or not command.save_to_session:
            return []
        now = utc_now()
        tags = command.selection.include_by_tag or []
        prompt = BlockIn(type=BlockType.CONVERSATION, content=[{"role": "user", "content": command.prompt}], tags=tags)
        built = [self.blocks.builder.build(session.hex, block, now) for block in [prompt, *results]]
        for block in built:
            block.tags = tags
        record = self._invocation_record(
            prepared, started, context, [block.id for block in built], output, error, usage=usage, completed_at=now
        )
        trigger = self.blocks.auto_compaction
        auto = trigger.plan(session.hex) if trigger else None
        if (
            self.store.block_writes.record_invocation(prepared.tenant_id, session.hex, built, record, now, auto)
            and trigger
            and auto
        ):
            trigger.queued(prepared.tenant_id, session.hex, auto)
        metering.add(storedTokens=sum(block.token_count for block in built))
        return [block.id for block in built]

    @staticmethod
    def _invocation_record(
        prepared: PreparedInvocation,
        started: str,
        context: AssembledContext | None,
        blocks_created: list[str],
        output: str | None,
        error: dict[str, str] | None,
        status: str | None = None,
        usage: dict[str, int] | None = None,
        completed_at: str | None = None,
    ) -> dict[str, Any]:
        session = prepared.session
        return {
            "id": prepared.id,
            "orderKey": prepared.order_key,
            "status": status or ("failed" if error else "completed"),
            "agent": prepared.agent.slug,
            "agentId": prepared.agent.id,
            "modelId": prepared.model.id,
            "session": session.id if session else None,
            "prompt": prepared.command.prompt,
            "output": output,
            "blocksCreated": blocks_created,
            "contextBlockIds": context.block_ids if context else [],
            "usage": usage or {"contextTokens": 0, "inputTokens": 0, "outputTokens": 0},
            "error": error,
            "createdAt": started,
            "completedAt": completed_at,
        }

    def get(self, tenant_id: str, session_id: str, invocation_id: str) -> dict[str, Any]:
        session = self.sessions.load(tenant_id, session_id)
        order_key = ids.parse_order_id(invocation_id, ids.INVOCATION_PREFIX)
        record = self.store.records.get_invocation(tenant_id, session.hex, order_key) if order_key else None
        if record is None:
            raise NotFound(f"invocation {invocation_id} not found")
        return record

    def list_page(
        self, tenant_id: str, session_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        return self.sessions.list_records(tenant_id, session_id, RecordKind.INVOCATION, limit, cursor)


def command_from(body: "InvokeRequest") -> InvokeCommand:
    """The seed's invoke body as an invocation command."""
    return InvokeCommand(
        agent=body.agent,
        prompt=body.prompt,
        session_id=body.session,
        selection=Selection(
            block_ids=body.context.block_ids,
            include_by_tag=body.context.include_by_tag,
            exclude_by_tag=body.context.exclude_by_tag,
            include_pinned=body.context.include_pinned,
            max_tokens=body.context.max_tokens,
        ),
        enrichment=Enrichment(body.enrichment),
        enrichment_config=EnrichmentConfig(
            include_preferences=body.enrichment_config.include_preferences,
            recency_bias=body.enrichment_config.recency_bias,
            max_tokens=body.enrichment_config.max_tokens,
        ),
        save_to_session=body.save_to_session,
    )
