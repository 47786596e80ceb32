"""Recording an invocation in its session: a running record when it starts, then its blocks (the prompt, tool
results, the output) with the final record, counted on the session in one transaction."""

from typing import Any

from agentctx import metering
from agentctx.domain import BlockType, utc_now
from agentctx.schemas.blocks import BlockIn
from agentctx.services.agent_loop import PreparedInvocation
from agentctx.services.auto_compaction import AutoCompactionTrigger
from agentctx.services.block_builder import BlockBuilder
from agentctx.services.context import AssembledContext
from agentctx.services.token_usage import aip_usage, new_usage
from agentctx.store.context_store import ContextStore


class InvocationRecorder:
    """Writes an invocation's records and blocks to its session (nothing for an ephemeral invocation)."""

    def __init__(
        self, store: ContextStore, builder: BlockBuilder, auto_compaction: AutoCompactionTrigger | None
    ) -> None:
        self.store = store
        self.builder = builder
        self.auto_compaction = auto_compaction

    def start(self, prepared: PreparedInvocation, started: str) -> None:
        """A running record, so that the start is a committed change (published as `Invocation Started`) and the
        invocation is listed while it runs; the final record replaces it."""
        if prepared.session is None or not prepared.command.save_to_session:
            return
        record = invocation_record(prepared, started, None, [], None, None, status="running")
        self.store.records.put_invocation(prepared.tenant_id, prepared.session.hex, record)

    def finish(
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
        built = [self.builder.build(session.hex, block, now) for block in [prompt, *results]]
        for block in built:
            block.tags = tags
        record = invocation_record(
            prepared, started, context, [block.id for block in built], output, error, usage=usage, completed_at=now
        )
        trigger = self.auto_compaction
        auto = trigger.plan(session.hex) if trigger else None
        if (
            self.store.block_writes.record_invocation(prepared.tenant_id, session.hex, built, record, now, auto)
            and trigger
            and auto
        ):
            trigger.queued(prepared.tenant_id, session.hex, auto)
        metering.add(storedTokens=sum(block.token_count for block in built))
        return [block.id for block in built]


def invocation_record(
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
    """The invocation as GET .../invocations/{id} shows it."""
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
        "usage": aip_usage(usage or new_usage()),
        "error": error,
        "createdAt": started,
        "completedAt": completed_at,
    }
