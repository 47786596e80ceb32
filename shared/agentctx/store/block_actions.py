"""The transaction actions that write, remove or deactivate a block with its filter entries, how many they are,
and how they change the session's metrics: shared by every writer of blocks (appends, invocations, the event log,
compaction, the fork copy), so each keeps its transactions within DynamoDB's limits."""

from dataclasses import replace
from typing import Any, TypedDict

from agentctx.domain import Block, BlockType
from agentctx.store.dynamo import MAX_TRANSACTION_ACTIONS, MAX_TRANSACTION_BYTES, dump_json, to_item
from agentctx.store.items import block_item, entry_items, entry_prefixes
from agentctx.store.keys import block_sk


def actions_for_blocks(blocks: list[Block]) -> int:
    """Transaction actions that writing (or removing) these blocks takes: the block and each of its filter entries.
    The one place that counts them, so every caller can keep a transaction within DynamoDB's 100 actions."""
    return sum(1 + len(entry_prefixes(block)) for block in blocks)


def transaction_groups(blocks: list[Block], reserved: int = 2) -> list[list[Block]]:
    """Consecutive groups that each fit one transaction beside `reserved` other actions (the session update, and
    the automatic-compaction job a crossing write adds)."""
    groups: list[list[Block]] = [[]]
    size = 0
    for block in blocks:
        block_size = len(dump_json(block.content).encode()) + 512 * actions_for_blocks([block])
        if groups[-1] and (
            actions_for_blocks(groups[-1] + [block]) > MAX_TRANSACTION_ACTIONS - reserved
            or size + block_size > MAX_TRANSACTION_BYTES
        ):
            groups.append([])
            size = 0
        groups[-1].append(block)
        size += block_size
    return groups


class BlockMetrics(TypedDict):
    tokens: int
    count: int
    pinned: int
    summaries: int


def block_metrics(added: list[Block], removed: list[Block] | None = None) -> BlockMetrics:
    """How writing the `added` blocks and taking out the `removed` ones changes the session's metrics (compacted
    blocks count for nothing)."""

    def totals(blocks: list[Block]) -> list[int]:
        active = [block for block in blocks if not block.compacted]
        return [
            sum(block.token_count for block in active),
            len(active),
            sum(1 for block in active if block.pinned),
            sum(1 for block in active if block.type is BlockType.SUMMARY),
        ]

    change = [plus - minus for plus, minus in zip(totals(added), totals(removed or []), strict=True)]
    return BlockMetrics(tokens=change[0], count=change[1], pinned=change[2], summaries=change[3])


def block_put_actions(table: str, pk: str, block: Block) -> list[dict[str, Any]]:
    """Store a new block and its filter entries (see actions_for_blocks)."""
    put = {
        "Put": {"TableName": table, "Item": block_item(pk, block), "ConditionExpression": "attribute_not_exists(pk)"}
    }
    return [put] + [{"Put": {"TableName": table, "Item": item}} for item in entry_items(pk, block)]


def block_delete_actions(table: str, pk: str, block: Block) -> list[dict[str, Any]]:
    """Remove a block and its filter entries."""
    delete = {"Delete": {"TableName": table, "Key": to_item({"pk": pk, "sk": block_sk(block.order_key)})}}
    return [delete] + entry_delete_actions(table, pk, block, entry_prefixes(block))


def block_deactivate_actions(table: str, pk: str, block: Block, summary_id: str) -> list[dict[str, Any]]:
    """Take a block out of the active context (a summary now covers it): flagged, out of the block index, and
    its filter entries removed. Only a block still active may be covered."""
    update = {
        "Update": {
            "TableName": table,
            "Key": to_item({"pk": pk, "sk": block_sk(block.order_key)}),
            "UpdateExpression": "SET compacted = :true, compactedBy = :summary REMOVE bsk",
            "ConditionExpression": "attribute_exists(bsk)",
            "ExpressionAttributeValues": to_item({":true": True, ":summary": summary_id}),
        }
    }
    return [update] + entry_delete_actions(table, pk, block, entry_prefixes(replace(block, compacted=False)))


def entry_delete_actions(table: str, pk: str, block: Block, prefixes: list[str]) -> list[dict[str, Any]]:
    return [
        {"Delete": {"TableName": table, "Key": to_item({"pk": pk, "sk": prefix + block.order_key})}}
        for prefix in prefixes
    ]


def entry_changes(table: str, pk: str, before: Block, after: Block) -> list[dict[str, Any]]:
    """The filter entries a change of the block takes away, then those it adds."""
    old, new = entry_prefixes(before), entry_prefixes(after)
    puts = [
        {"Put": {"TableName": table, "Item": item}}
        for item in entry_items(pk, after, [prefix for prefix in new if prefix not in old])
    ]
    return entry_delete_actions(table, pk, before, [prefix for prefix in old if prefix not in new]) + puts
