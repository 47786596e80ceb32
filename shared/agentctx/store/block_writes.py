"""Writing a session's blocks: appends, an invocation's blocks with its record, changes of a block's pinned flag,
tags and importance, deletes, and a compaction's summary over the blocks it covers.

Every write moves the session's metrics in the same transaction (transactions.py), with the blocks' filter
entries (block_actions.py); one too large for a transaction is cut into several, and the earlier ones are taken
back when a later one fails. For a tenant with a storage quota an append also adds its tokens to the tenant's
stored tokens in each of its transactions, conditioned on the quota (usage_store.py), so concurrent appends cannot
overshoot it; without one the item is left to the request's usage, so the tenant's sessions never conflict on it.
"""

from dataclasses import replace
from typing import Any

from agentctx.domain import Block
from agentctx.store.block_actions import (
    block_deactivate_actions,
    block_delete_actions,
    block_metrics,
    block_put_actions,
    entry_changes,
    transaction_groups,
)
from agentctx.store.dynamo import MAX_TRANSACTION_ACTIONS, dynamodb_client, to_item, with_conflict_retry
from agentctx.store.items import invocation_item
from agentctx.store.keys import block_sk, session_pk
from agentctx.store.sessions import SessionStore
from agentctx.store.transactions import AutoCompaction, Transactions
from agentctx.store.usage_store import UsageStore


class BlockWrites:
    def __init__(self, table: str, transactions: Transactions, sessions: SessionStore, usage: UsageStore) -> None:
        self.table = table
        self.transactions = transactions
        self.sessions = sessions
        self.usage = usage

    def append(
        self,
        tenant_id: str,
        session_hex: str,
        blocks: list[Block],
        now: str,
        auto: AutoCompaction | None = None,
        stored_quota: int | None = None,
    ) -> bool:
        """Store the blocks and add them to the session's metrics (and, with a `stored_quota`, to the tenant's stored
        tokens), in as few transactions as DynamoDB allows.

        A batch that fits one transaction (97 actions, counting each block's filter entries, and 3.5 MB) is atomic.
        A larger one is written in several; if a later one fails, the earlier ones are taken back before the error
        is raised. Throttled when the tenant's stored tokens have reached `stored_quota`. True when the write
        crossed the session's threshold and queued its automatic compaction job.
        """
        pk = session_pk(tenant_id, session_hex)
        written: list[list[Block]] = []
        queued = False
        try:
            for group in transaction_groups(blocks, reserved=3):
                added = block_metrics(group)["tokens"]
                actions = [self.transactions.metrics_update(pk, now, **block_metrics(group))]
                actions += [action for block in group for action in block_put_actions(self.table, pk, block)]
                if stored_quota is not None:
                    actions.append(self.usage.stored_tokens_update(tenant_id, added, stored_quota))
                queued |= self._watching_threshold(tenant_id, session_hex, actions, added, None if queued else auto)
                written.append(group)
        except Exception:
            for group in written:
                self._remove_group(pk, group, now, tenant_id if stored_quota is not None else None)
            raise
        return queued

    def record_invocation(
        self,
        tenant_id: str,
        session_hex: str,
        blocks: list[Block],
        invocation: dict[str, Any],
        now: str,
        auto: AutoCompaction | None = None,
    ) -> bool:
        """Save an invocation's blocks and its record, and count it on the session, in one transaction when they
        fit (with their filter entries: tagged blocks take more actions); else the blocks that do not fit the last
        transaction go first, and are taken back if a later one fails. True when the write crossed the session's
        threshold and queued its automatic compaction job."""
        pk = session_pk(tenant_id, session_hex)
        *earlier, last = transaction_groups(blocks, reserved=3) if blocks else [[]]
        written: list[list[Block]] = []
        try:
            for group in earlier:
                actions = [self.transactions.metrics_update(pk, now, **block_metrics(group))]
                puts = [action for block in group for action in block_put_actions(self.table, pk, block)]
                self.transactions.on_session(actions + puts)
                written.append(group)
            actions = [self.transactions.metrics_update(pk, now, invocations=1, **block_metrics(last))]
            actions += [action for block in last for action in block_put_actions(self.table, pk, block)]
            actions.append({"Put": {"TableName": self.table, "Item": invocation_item(pk, invocation)}})
            added = block_metrics(last)["tokens"]
            return self._watching_threshold(tenant_id, session_hex, actions, added, auto)
        except Exception:
            for group in written:
                self._remove_group(pk, group, now)
            raise

    def _watching_threshold(
        self, tenant_id: str, session_hex: str, actions: list[dict[str, Any]], added: int, auto: AutoCompaction | None
    ) -> bool:
        def session_exists() -> bool:
            return self.sessions.get(tenant_id, session_hex) is not None

        return self.transactions.watching_threshold(tenant_id, session_hex, actions, added, auto, session_exists)

    def _remove_group(self, pk: str, blocks: list[Block], now: str, stored_by: str | None = None) -> None:
        """Take back a group written before a later one failed (`stored_by`: the tenant whose stored tokens it
        counted)."""
        actions = [self.transactions.metrics_update(pk, now, **block_metrics([], blocks), must_exist=False)]
        actions += [action for block in blocks for action in block_delete_actions(self.table, pk, block)]
        if stored_by:
            actions.append(self.usage.stored_tokens_update(stored_by, -block_metrics(blocks)["tokens"], None))
        with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))

    def update(self, tenant_id: str, before: Block, after: Block, now: str) -> None:
        """Save a block's pinned flag, tags and importance as read in `before`; its filter entries and the session's
        pinned count follow in the same transaction. BlockMoved when the block changed since it was read.

        A change of more entries than one transaction holds (50 tags swapped for 50 others) is made in two steps,
        each consistent: first the tags dropped, then those added; a retry of the request finishes it."""
        steps = [(before, after)]
        if len(entry_changes(self.table, "", before, after)) + 2 > MAX_TRANSACTION_ACTIONS:
            middle = replace(after, tags=[tag for tag in before.tags if tag in after.tags])
            steps = [(before, middle), (middle, after)]
        for old, new in steps:
            pk = session_pk(tenant_id, old.session_hex)
            block_update = {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": pk, "sk": block_sk(old.order_key)}),
                    "UpdateExpression": "SET pinned = :pinned, tags = :tags, importance = :importance",
                    "ConditionExpression": _unchanged_condition(old),
                    "ExpressionAttributeValues": to_item(
                        {":pinned": new.pinned, ":tags": new.tags, ":importance": new.importance}
                        | _unchanged_values(old)
                    ),
                }
            }
            pinned = 0 if old.compacted else int(new.pinned) - int(old.pinned)
            actions = [self.transactions.metrics_update(pk, now, pinned=pinned), block_update]
            self.transactions.on_block(actions + entry_changes(self.table, pk, old, new))

    def delete(self, tenant_id: str, block: Block, now: str) -> None:
        """Remove a block as read, with its filter entries, and take it off the session's metrics; BlockMoved when it
        changed since it was read."""
        pk = session_pk(tenant_id, block.session_hex)
        delete = block_delete_actions(self.table, pk, block)
        delete[0]["Delete"] |= {
            "ConditionExpression": _unchanged_condition(block),
            "ExpressionAttributeValues": to_item(_unchanged_values(block)),
        }
        self.transactions.on_block([self.transactions.metrics_update(pk, now, **block_metrics([], [block]))] + delete)

    def apply_summary(
        self,
        tenant_id: str,
        session_hex: str,
        summary: Block,
        covered: list[Block],
        now: str,
        *,
        count: bool,
    ) -> None:
        """In one transaction: store the summary, take the covered blocks out of the active context (kept, flagged
        `compacted`, out of the block index and their filter entries, naming their summary), and move the session's
        metrics. Only blocks still active may be covered; `count` adds the completed compaction to compactionCount.
        The transaction takes 2 + actions_for_blocks([summary, *covered]) actions."""
        pk = session_pk(tenant_id, session_hex)
        session_update = self.transactions.metrics_update(pk, now, **block_metrics([summary], covered))
        if count:
            update = session_update["Update"]
            update["UpdateExpression"] = update["UpdateExpression"].replace(" ADD ", " ADD compactionCount :one, ", 1)
            update["ExpressionAttributeValues"][":one"] = {"N": "1"}
        actions = [session_update, *block_put_actions(self.table, pk, summary)]
        actions += [
            action for block in covered for action in block_deactivate_actions(self.table, pk, block, summary.id)
        ]
        self.transactions.on_session(actions)


def _unchanged_condition(block: Block) -> str:
    active = "attribute_not_exists(bsk)" if block.compacted else "attribute_exists(bsk)"
    return f"attribute_exists(pk) AND {active} AND pinned = :wasPinned AND tags = :wasTags"


def _unchanged_values(block: Block) -> dict[str, Any]:
    return {":wasPinned": block.pinned, ":wasTags": block.tags}
