"""An agent-runtime session's messages: posting one records it and queues its turn; listing reads them back.

Posting records the message, its conversation block and its `input.message` event in one transaction, and queues a
turn on the FIFO turn queue, grouped by session; the turn function (services/turns.py) runs it.
"""

from collections.abc import Callable
from typing import Any

from agentctx import ids, metering
from agentctx.domain import BlockType, Listed, Session, utc_now
from agentctx.errors import Conflict
from agentctx.observability import logger
from agentctx.pagination import CursorCodec
from agentctx.schemas.blocks import BlockIn
from agentctx.schemas.runtime import MessageCreate
from agentctx.services.block_builder import BlockBuilder
from agentctx.services.catalog import CatalogService
from agentctx.services.event_append import Append, append_with_retry
from agentctx.services.message_text import preview, public_message, text_of
from agentctx.services.session_agent import agent_of
from agentctx.services.sessions import SessionService
from agentctx.store.context_store import ContextStore
from agentctx.store.event_log import SessionChanges
from agentctx.store.turn_jobs import TurnJob


class RuntimeMessageService:
    """Posts a runtime session's input messages (each the session's next turn) and lists its messages."""

    def __init__(
        self,
        store: ContextStore,
        sessions: SessionService,
        catalog: CatalogService,
        builder: BlockBuilder,
        cursors: CursorCodec,
        dispatch_turn: Callable[[TurnJob], None] | None,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.catalog = catalog
        self.builder = builder
        self.cursors = cursors
        # None where no turn queue is configured: messages are then refused
        self.dispatch_turn = dispatch_turn

    def post_message(self, tenant_id: str, session_id: str, request: MessageCreate) -> dict[str, Any]:
        """Record the input message as the session's next turn, then dispatch that turn.

        The message, its block, its `input.message` event and its turn item commit in one transaction, conditioned
        on the event sequence last read; the same read gives the turn its number (`turnsQueued` + 1) and its order
        key (after the last input's), so numbers and keys follow commit order, whatever the clocks or the queue.
        Only then is the turn dispatched; the table's stream dispatches it again from the committed turn item, so a
        crash between the commit and the send loses nothing (services/turns.py runs turns by number)."""
        session = self.sessions.load(tenant_id, session_id)
        if self.dispatch_turn is None:
            raise Conflict("turns are not configured here (no TURN_QUEUE_URL)")
        if agent_of(self.catalog, session, {}) is None:
            raise Conflict(f"session {session_id} has no agent to run a turn: its agent does not exist")
        now = utc_now()
        content = [part.model_dump() for part in request.message.content]
        block = self.builder.build(
            session.hex,
            BlockIn(type=BlockType.CONVERSATION, content=[{"role": "user", "content": text_of(content)}]),
            now,
        )
        block.tags = request.tags
        turn_id = ids.TURN_PREFIX + ids.new_hex()
        message_id = ids.MESSAGE_PREFIX + ids.new_hex()
        context = {"turn_id": turn_id, "input_message_id": message_id}
        message: dict[str, Any] = {}
        turn_seq = 0

        def next_turn(read: Session) -> Append:
            """The message as the next turn of the session as last read."""
            nonlocal message, turn_seq
            turn_seq = read.turns.queued + 1
            block.order_key = ids.order_key_after(read.turns.last_input_key)
            message = {
                "id": message_id,
                "session_id": ids.RUNTIME_SESSION_PREFIX + read.hex,
                "role": "user",
                "content": content,
                "metadata": request.metadata,
                "tags": request.tags,
                "controls": request.controls.model_dump(exclude_none=True) if request.controls else None,
                "external_actor": (
                    request.external_actor.model_dump(exclude_none=True) if request.external_actor else None
                ),
                "turn_id": turn_id,
                "block_id": block.id,
                "order_key": block.order_key,
                "created_at": now,
            }
            changes = SessionChanges(set={"turnsQueued": turn_seq, "lastInputKey": block.order_key})
            if read.turns.preview is None:
                changes.set["preview"] = preview(text_of(content))
            event = {"type": "input.message", "context": context, "data": {"message": public_message(message)}}
            entry = {"turnSeq": turn_seq, "orderKey": block.order_key, "turnId": turn_id, "messageId": message_id}
            return Append([event], now, changes, blocks=[block], messages=[message], turn_entry=entry)

        append_with_retry(self.store, session, next_turn)
        metering.add(storedTokens=block.token_count)
        try:
            self.dispatch_turn(TurnJob(tenant_id, session.hex, turn_seq))
        except Exception:  # committed: the stream dispatches it from the turn item
            logger.exception("turn dispatch failed after commit", extra={"turn_id": turn_id})
        return message

    def messages(self, tenant_id: str, session_id: str, limit: int, cursor: str | None) -> Listed[dict[str, Any]]:
        session = self.sessions.load(tenant_id, session_id)
        query = f"messages?session={session.hex}"
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        page = self.store.records.list_messages(session, limit, after)
        next_cursor = self.cursors.encode(tenant_id, query, page.next_after) if page.next_after else None
        return Listed([public_message(message) for message in page.items], next_cursor, page.truncated_by_bytes)
