"""Search indexing from the context table's stream: each committed change of a block is applied to the lexical index
and, when an embedder and a vector store are configured, to the block vectors.

Every step is idempotent (a put replaces the block's earlier indexing, a remove of what is gone does nothing), so a
record delivered again, or retried after a partial failure, leaves the same index.
"""

from typing import Any

from agentctx.domain import Block, render_block_text
from agentctx.providers.embeddings import Embedder
from agentctx.store.dynamo import from_item
from agentctx.store.items import block_from
from agentctx.store.keys import BLOCK_SK_PREFIX, parse_session_pk
from agentctx.store.search_index import LexicalIndex
from agentctx.store.vectors import VectorItem, VectorStore, vector_key


def indexed_fields(block: Block) -> tuple[str, str, list[str]]:
    """What a block is indexed on: its type, its text, its tags (a change elsewhere, such as compaction's marks,
    changes nothing in the index)."""
    return block.type.value, render_block_text(block.type, block.content), block.tags


class SearchIndexer:
    """Keeps the search indexes in step with the blocks, one stream record at a time."""

    def __init__(self, lexical: LexicalIndex, embedder: Embedder | None, vectors: VectorStore | None) -> None:
        self.lexical = lexical
        self.embedder = embedder
        self.vectors = vectors

    def handle(self, record: dict[str, Any]) -> str | None:
        """Apply one DynamoDB stream record (as Lambda delivers it); what was done ("indexed", "removed"), or None
        for a record of anything but a block, or a change that leaves the block's indexed fields as they were."""
        change = record["dynamodb"]
        keys = from_item(change["Keys"])
        session = parse_session_pk(keys["pk"])
        if session is None or not keys["sk"].startswith(BLOCK_SK_PREFIX):
            return None
        tenant, session_hex = session
        order_key = keys["sk"][len(BLOCK_SK_PREFIX) :]
        if record["eventName"] == "REMOVE":
            self.lexical.remove(tenant, session_hex, order_key)
            if self.vectors is not None:
                self.vectors.remove([vector_key(tenant, session_hex, order_key)])
            return "removed"
        block = block_from(change["NewImage"])
        if record["eventName"] == "MODIFY" and indexed_fields(block_from(change["OldImage"])) == indexed_fields(block):
            return None
        block_type, text, tags = indexed_fields(block)
        self.lexical.put(tenant, session_hex, order_key, block_type, tags, text)
        if self.embedder is not None and self.vectors is not None and text.strip():
            (vector,) = self.embedder.embed([text])
            self.vectors.put([VectorItem(tenant, session_hex, order_key, block_type, vector, tags)])
        return "indexed"
