"""Invoking an agent: preparing it, assembling its context, running the agent loop (services/agent_loop.py) as a
stream of events, and saving it to the session (services/invocation_records.py); reading invocation records.

`prepare` resolves everything that can fail with a plain HTTP error (agent, model, session) before a stream
starts; `run` then yields the seed's events in order: start (before the model is called), context_assembled,
thinking / text_delta / tool_call / tool_result (and file_edit, dev_url where a tool produces them), and
complete or error. A failure after the stream began ends it with an error event, never a silent cut.
"""

from collections.abc import Callable, Generator, Iterator
from typing import Any

from agentctx import ids, metering
from agentctx.capabilities import ToolResult, ToolScope
from agentctx.domain import Agent, Listed, Session, utc_now
from agentctx.errors import Conflict, InvalidRequest, NotFound, Throttled, UpstreamFailed
from agentctx.observability import logger
from agentctx.providers.base import ProviderError, ToolUse
from agentctx.schemas.invoke import ContextRequest, InvokeRequest
from agentctx.services.agent_loop import (
    AgentLoop,
    InvokeCommand,
    PreparedInvocation,
    StreamEvent,
    answer_blocks,
    tools_of,
)
from agentctx.services.catalog import CatalogService
from agentctx.services.context import AssembledContext, ContextAssembler, Enrichment, EnrichmentConfig, Selection
from agentctx.services.invocation_records import InvocationRecorder
from agentctx.services.sessions import SessionService
from agentctx.services.token_usage import aip_usage, metered, new_usage
from agentctx.store.context_store import ContextStore
from agentctx.store.records import RecordKind


class InvocationService:
    def __init__(
        self,
        catalog: CatalogService,
        sessions: SessionService,
        store: ContextStore,
        assembler: ContextAssembler,
        loop: AgentLoop,
        recorder: InvocationRecorder,
        scope_for: Callable[[Session], ToolScope],
    ) -> None:
        self.catalog = catalog
        self.sessions = sessions
        self.store = store
        self.assembler = assembler
        self.loop = loop
        self.recorder = recorder
        self.scope_for = scope_for

    def prepare(self, tenant_id: str, command: InvokeCommand, agent: Agent | None = None) -> PreparedInvocation:
        """Everything that can fail with a plain HTTP error, before a stream starts. `agent`: one made for the
        call (the context endpoint's, without an agent named) instead of the command's."""
        agent = agent or self.catalog.resolve_agent(tenant_id, command.agent)
        try:
            model = self.catalog.get_model(tenant_id, agent.default_model_id)
        except NotFound as missing:
            raise Conflict(
                f"agent {agent.slug} names model {agent.default_model_id}, which no longer exists"
            ) from missing
        session = self.sessions.load(tenant_id, command.session_id) if command.session_id else None
        self._check_block_ids(session, command.selection.block_ids)
        tools, specs = tools_of(agent.capabilities)
        scope = self.scope_for(session) if session else ToolScope()
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
        usage = new_usage()
        tool_calls: list[tuple[ToolUse, ToolResult]] = []
        context: AssembledContext | None = None
        try:
            self.recorder.start(prepared, started)
            context = self.assemble(prepared)
            usage["contextTokens"] = context.token_count
            yield StreamEvent(
                "context_assembled",
                {
                    "tokenCount": context.token_count,
                    "blocksIncluded": len(context.blocks),
                    "blockIds": context.block_ids,
                },
            )
            layout = prepared.layout(context.selected, context.enriched)
            output = yield from _for_the_client(self.loop.run(prepared, layout, usage, tool_calls))
        except ProviderError as error:
            yield from self._fail(prepared, started, usage, context, error.code, error.message)
            return
        except Exception:  # a bug or an AWS failure mid-stream still ends the stream with an error event
            logger.exception("invocation failed", extra={"invocation_id": prepared.id})
            yield from self._fail(prepared, started, usage, context, "internal_error", "the invocation failed")
            return
        results = answer_blocks(tool_calls, output)
        blocks_created = self.recorder.finish(prepared, started, usage, context, results, output, None)
        metering.add(invocations=1, **metered(usage))
        yield StreamEvent(
            "complete",
            {
                "id": prepared.id,
                "status": "completed",
                "output": output,
                "agent": prepared.agent.slug,
                "session": prepared.session.id if prepared.session else None,
                "blocksCreated": blocks_created,
                "usage": aip_usage(usage),
                "context": {"blockIds": context.block_ids, "tokenCount": context.token_count},
            },
        )

    def assemble(self, prepared: PreparedInvocation) -> AssembledContext:
        command, budget = prepared.command, prepared.context_budget
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
            self.recorder.finish(prepared, started, usage, context, [], None, {"code": code, "message": message})
        except Exception:
            logger.exception("could not record the failed invocation", extra={"invocation_id": prepared.id})
        metering.add(invocations=1, **metered(usage))
        yield StreamEvent("error", {"message": message, "code": code, "invocationId": prepared.id})

    def get(self, tenant_id: str, session_id: str, invocation_id: str) -> dict[str, Any]:
        session = self.sessions.load(tenant_id, session_id)
        order_key = ids.parse_order_id(invocation_id, ids.INVOCATION_PREFIX)
        record = self.store.records.get_invocation(tenant_id, session.hex, order_key) if order_key else None
        if record is None:
            raise NotFound(f"invocation {invocation_id} not found")
        return record

    def list_page(self, tenant_id: str, session_id: str, limit: int, cursor: str | None) -> Listed[dict[str, Any]]:
        return self.sessions.list_records(tenant_id, session_id, RecordKind.INVOCATION, limit, cursor)


def _for_the_client(events: Generator[StreamEvent, None, str]) -> Generator[StreamEvent, None, str]:
    """The loop's events an invocation streams: each model call's usage is in the `complete` event's total."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if event.name != "llm_generation":
            yield event


def command_from(body: "InvokeRequest | ContextRequest") -> InvokeCommand:
    """The seed's invoke body (or the context endpoint's, which saves nothing) as an invocation command."""
    return InvokeCommand(
        agent=body.agent or "",
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
        save_to_session=isinstance(body, InvokeRequest) and body.save_to_session,
    )
