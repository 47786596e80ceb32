"""A new block from its request shape: what every writer of blocks (appends, invocations, messages, turns) does
before it writes."""

from agentctx import ids
from agentctx.domain import DEFAULT_IMPORTANCE, Block, render_block_text
from agentctx.errors import PayloadTooLarge
from agentctx.schemas.blocks import BlockIn
from agentctx.store.dynamo import dump_json
from agentctx.tokens import count_tokens


class BlockBuilder:
    """Builds blocks no larger than `max_block_bytes`, their tokens counted with `encoding`."""

    def __init__(self, max_block_bytes: int, encoding: str) -> None:
        self.max_block_bytes = max_block_bytes
        self.encoding = encoding

    def build(self, session_hex: str, block_in: BlockIn, now: str) -> Block:
        """A new block for the session, its size checked and its tokens counted."""
        size = len(dump_json(block_in.content).encode())
        if size > self.max_block_bytes:
            raise PayloadTooLarge(
                f"block content is {size} bytes; the limit is {self.max_block_bytes} bytes",
                {"limitBytes": self.max_block_bytes, "sizeBytes": size},
            )
        return Block(
            session_hex=session_hex,
            order_key=ids.new_order_key(),
            type=block_in.type,
            content=block_in.content,
            token_count=count_tokens(render_block_text(block_in.type, block_in.content), self.encoding),
            tags=block_in.tags,
            pinned=block_in.pinned,
            importance=block_in.importance if block_in.importance is not None else DEFAULT_IMPORTANCE[block_in.type],
            created_at=now,
        )
