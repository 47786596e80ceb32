"""The paced copy of a fork from its source, in the background: a runtime fork's messages first, then the blocks
its filter keeps, in order, each batch in one transaction that moves the fork's `copiedThrough` on, at a rate of
write units a second. Until it ends, the fork's reads go through its source (block_segments, records)."""

import json
from dataclasses import replace
from typing import Any

from agentctx.domain import Block, ForkCopy, Session, utc_now
from agentctx.store.block_actions import actions_for_blocks, block_metrics, block_put_actions, transaction_groups
from agentctx.store.block_listing import BlockListing
from agentctx.store.block_segments import Segment, Source, marked
from agentctx.store.dynamo import MAX_TRANSACTION_ACTIONS, MAX_TRANSACTION_BYTES, dump_json, dynamodb_client, to_item
from agentctx.store.keys import MESSAGE_SK_PREFIX, SESSION_SK, copy_sk, listing_pks, session_pk
from agentctx.store.pacing import Pacer
from agentctx.store.sessions import SessionStore
from agentctx.store.transactions import SessionGone, Transactions


class ForkCopier:
    def __init__(
        self, table: str, sessions: SessionStore, blocks: BlockListing, transactions: Transactions, pacer: Pacer
    ) -> None:
        self.table = table
        self.sessions = sessions
        self.blocks = blocks
        self.transactions = transactions
        self.pacer = pacer

    def first_batch(self, fork: Session) -> list[Block]:
        """The blocks a new fork is created with (SessionStore.create writes them in the transaction that creates
        it), its metrics and copy state set to match: a small source is copied whole (the fork then has no copy
        state and needs no job), and after its creation only copy jobs move its `copiedThrough` on. A runtime fork's
        messages come before its blocks, so its copy is left to its job."""
        assert fork.copy is not None
        if fork.runtime is not None:
            return []
        reserved = 3 + len(listing_pks(fork.tenant_id, fork.tags))  # the session, its listings, the mark, the check
        batch, reached = self._next_batch(fork.tenant_id, fork.hex, fork.copy, reserved)
        metrics = block_metrics(batch)
        fork.total_tokens, fork.block_count = metrics["tokens"], metrics["count"]
        fork.pinned_count, fork.summary_count = metrics["pinned"], metrics["summaries"]
        fork.copy = replace(fork.copy, copied_through=reached) if reached else None
        return batch

    def step(
        self,
        tenant_id: str,
        fork_hex: str,
        seconds: float,
        write_units_per_second: int,
    ) -> tuple[bool, int]:
        """Copy a fork's next blocks from its source, in order, each batch in one transaction that also moves
        `copiedThrough` on from the value read (so two deliveries never copy a block twice) and adds the batch to
        the fork's metrics, paced to `write_units_per_second`, until done or `seconds` have passed on the pacer's
        clock. The last transaction ends the copy: the fork's copy state and compaction lock go, and so does the
        source's `COPY#` item. True when nothing is left for this job: the copy is done, or the fork is gone (its
        delete took the mark), or another delivery of the job moved the copy on meanwhile (that delivery goes on:
        it is running, or its message comes back, or it queued its continuation; only jobs copy after the fork's
        creation). False when more is left. With the tokens copied."""
        deadline = self.pacer.now() + seconds
        fork = self.sessions.get(tenant_id, fork_hex)
        copied = 0
        if fork is None:
            return True, 0
        records_after = self._records_copied_through(fork) if fork.copy and fork.runtime else None
        while fork.copy is not None:  # each turn copies something, so a run that stops for time has progressed
            copy = fork.copy
            if records_after is not None:  # a runtime fork's messages first, then its blocks
                try:
                    records_after = self._copy_records_page(fork, records_after, write_units_per_second)
                except SessionGone:
                    return True, copied  # deleted, or copied by another delivery
            else:
                batch, reached = self._next_batch(tenant_id, fork_hex, copy, reserved=3)
                started = self.pacer.now()
                try:
                    self._copy_batch(fork, batch, reached)
                except SessionGone:
                    return True, copied  # deleted, or moved on by another delivery
                copied += block_metrics(batch)["tokens"]
                kilobytes = sum(len(dump_json(block.content).encode()) // 1024 for block in batch)
                units = 2 * (1 + actions_for_blocks(batch) + kilobytes)
                self.pacer.pace(started, units, write_units_per_second)
                fork.copy = replace(copy, copied_through=reached) if reached else None
            if fork.copy is not None and self.pacer.now() >= deadline:
                return False, copied
        return True, copied

    def _next_batch(
        self, tenant_id: str, fork_hex: str, copy: ForkCopy, reserved: int
    ) -> tuple[list[Block], str | None]:
        """The fork's next blocks from its source (from a page of 100 source blocks), as many as one transaction
        holds beside `reserved` actions, and where its copy then stands: None when through the fork point."""
        remaining = Segment(copy.source_hex, copy.copied_through or None, copy.through)
        source = marked(copy.filter) or Source("meta")
        found, more = self.blocks.source_page(source, remaining, tenant_id, None, 100, False)
        scanned = [item if isinstance(item, str) else item.order_key for item in found]
        candidates = [item for item in found if isinstance(item, str) or copy.filter.keeps(item)]
        read = self.blocks.get_many(
            tenant_id, copy.source_hex, [item if isinstance(item, str) else item.order_key for item in candidates]
        )
        blocks = [replace(block, session_hex=fork_hex) for block in read if copy.filter.keeps(block)]
        groups = transaction_groups(blocks, reserved)
        if len(groups) > 1:
            return groups[0], groups[0][-1].order_key
        return groups[0], (scanned[-1] if scanned else more) if more is not None else None

    def _records_copied_through(self, fork: Session) -> str:
        """Where a runtime fork's copy of its source's messages (`M#` records up to the fork point) goes on: after
        the newest the fork already holds there (its own messages come after the fork point)."""
        assert fork.copy is not None
        newest = dynamodb_client().query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues=to_item(
                {":pk": session_pk(fork.tenant_id, fork.hex), ":low": MESSAGE_SK_PREFIX, ":high": _records_bound(fork)}
            ),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        return newest[0]["sk"]["S"] if newest else MESSAGE_SK_PREFIX

    def _copy_records_page(self, fork: Session, after: str, write_units_per_second: int) -> str | None:
        """Copy the next page of the source's messages up to the fork point into the fork, shown as the fork's, in one
        transaction that checks the fork is still being copied (a deleted fork gets none). The last key copied, or
        None when none are left."""
        assert fork.copy is not None
        pk = session_pk(fork.tenant_id, fork.hex)
        page = dynamodb_client().query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues=to_item(
                {
                    ":pk": session_pk(fork.tenant_id, fork.copy.source_hex),
                    ":low": after + " ",
                    ":high": _records_bound(fork),
                }
            ),
            Limit=MAX_TRANSACTION_ACTIONS - 1,
            ConsistentRead=True,
        )["Items"]
        if not page:
            return None
        started = self.pacer.now()
        check = {
            "TableName": self.table,
            "Key": to_item({"pk": pk, "sk": SESSION_SK}),
            "ConditionExpression": "attribute_exists(copySource)",
        }
        actions: list[dict[str, Any]] = [{"ConditionCheck": check}]
        size = units = 0
        for item in page:
            record = json.loads(item["record"]["S"])
            if isinstance(record.get("session_id"), str):
                record["session_id"] = record["session_id"].replace(fork.copy.source_hex, fork.hex)
            text = dump_json(record)
            text_bytes = len(text.encode())
            if size + text_bytes > MAX_TRANSACTION_BYTES // 2 and len(actions) > 1:
                break  # the rest in the next transaction
            size += text_bytes
            units += 2 * (1 + text_bytes // 1024)
            copied = to_item({"pk": pk, "sk": item["sk"]["S"], "record": text})
            actions.append({"Put": {"TableName": self.table, "Item": copied}})
        self.transactions.on_session(actions)
        self.pacer.pace(started, units + 1, write_units_per_second)
        return str(actions[-1]["Put"]["Item"]["sk"]["S"])

    def _copy_batch(self, fork: Session, blocks: list[Block], reached: str | None) -> None:
        """One transaction: the blocks, the fork's metrics, and its copy moved on to `reached` (None: the end)."""
        assert fork.copy is not None
        pk = session_pk(fork.tenant_id, fork.hex)
        update = self.transactions.metrics_update(pk, utc_now(), **block_metrics(blocks))
        values = update["Update"]["ExpressionAttributeValues"]
        values[":was"] = {"S": fork.copy.copied_through}
        update["Update"]["ConditionExpression"] = "attribute_exists(pk) AND copiedThrough = :was"
        actions = [update] + [action for block in blocks for action in block_put_actions(self.table, pk, block)]
        if reached is not None:
            expression = update["Update"]["UpdateExpression"]
            update["Update"]["UpdateExpression"] = expression.replace("SET ", "SET copiedThrough = :reached, ", 1)
            values[":reached"] = {"S": reached}
        else:
            update["Update"]["UpdateExpression"] += (
                " REMOVE copySource, copyThrough, copiedThrough, copyFilter, compactionJob, compactionLockUntil"
            )
            mark = to_item({"pk": session_pk(fork.tenant_id, fork.copy.source_hex), "sk": copy_sk(fork.hex)})
            actions.append({"Delete": {"TableName": self.table, "Key": mark}})
        self.transactions.on_session(actions)


def _records_bound(fork: Session) -> str:
    """The last message key a fork takes from its source: those written up to the fork point."""
    assert fork.copy is not None
    return MESSAGE_SK_PREFIX + fork.copy.through
