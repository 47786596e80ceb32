"""A runtime session's event log and its turn items, in the session's partition (keys: see keys.py).

Events are append-only; the session item's `eventSeq` is the last sequence written, and every append is one
transaction that moves it on from the value the writer read, so sequences are gapless and two writers never share
one. A turn item (the input of turn n: its message's order key, turn and message ids) is written with its message;
the session item's `turnsQueued` is the last number given. The turn function finds the next turn to run there,
and the stream dispatches a turn from this item's INSERT.

A block written with events (the input message, a turn's output and tool results) goes in the same transaction,
with the session's metrics, so the event log and the blocks never disagree.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from agentctx import ids
from agentctx.domain import Block, Session
from agentctx.store.block_actions import block_metrics, block_put_actions
from agentctx.store.dynamo import (
    cancellation_codes,
    dump_json,
    dynamodb_client,
    from_item,
    load_json,
    serialize,
    to_item,
    with_conflict_retry,
)
from agentctx.store.items import expiry, job_item, message_item, session_from
from agentctx.store.keys import EVENTS_END_SK, event_sk, session_pk, turn_sk
from agentctx.store.transactions import AutoCompaction, SessionGone, Transactions


class SessionMoved(Exception):
    """The session changed since it was read: another writer appended events, or a guard no longer holds.
    `session` is the session as the refused write found it, so the writer needs no read to try again."""

    def __init__(self, session: Session) -> None:
        super().__init__(f"session {session.id} changed since it was read")
        self.session = session


@dataclass
class SessionChanges:
    """What an append changes on the session item besides its event sequence."""

    set: dict[str, Any] = field(default_factory=dict)
    add: dict[str, int] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    # The turn's number: the append fails (SessionMoved) unless every earlier turn is finished and this one is not,
    # and once the turn was cancelled (unless allow_cancelled: the events that end a cancelled turn).
    turn_seq: int | None = None
    allow_cancelled: bool = False


class EventLog:
    def __init__(self, table: str, transactions: Transactions, retention_days: int) -> None:
        self.table = table
        self.transactions = transactions
        # Event-log entries and turn items expire after this many days (the table's TTL attribute); 0 keeps them.
        self.retention_days = retention_days

    def append(
        self,
        tenant_id: str,
        session_hex: str,
        expected_seq: int,
        events: list[dict[str, Any]],
        now: str,
        changes: SessionChanges | None = None,
        blocks: list[Block] | None = None,
        messages: list[dict[str, Any]] | None = None,
        auto: AutoCompaction | None = None,
        turn_entry: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Number the events from `expected_seq + 1` and write them, with the blocks, messages and session changes,
        in one transaction; the stamped envelopes. With `auto`, the same transaction marks the session and records
        that automatic compaction job, provided none is pending. SessionMoved when the sequence, a guard or the
        pending mark moved; SessionGone when the session no longer exists."""
        changes = changes or SessionChanges()
        blocks = blocks or []
        pk = session_pk(tenant_id, session_hex)
        stamped = [
            {
                "id": ids.event_id(session_hex, expected_seq + offset),
                "type": event["type"],
                "ts": event.get("ts", now),
                "session_id": ids.RUNTIME_SESSION_PREFIX + session_hex,
                "sequence": expected_seq + offset,
                "context": event.get("context", {}),
                "data": event.get("data", {}),
            }
            for offset, event in enumerate(events, start=1)
        ]
        actions: list[dict[str, Any]] = [
            {"Update": self._session_update(pk, expected_seq, events, now, changes, blocks, auto)}
        ]
        actions += [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        # `type` beside the envelope lets the stream's filter pass turn endings alone (template.yaml)
                        {
                            "pk": pk,
                            "sk": event_sk(event["sequence"]),
                            "type": event["type"],
                            "record": dump_json(event),
                            **expiry(self.retention_days),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for event in stamped
        ]
        actions += [action for block in blocks for action in block_put_actions(self.table, pk, block)]
        actions += [{"Put": {"TableName": self.table, "Item": message_item(pk, message)}} for message in messages or []]
        if auto is not None:
            item = job_item(tenant_id, session_hex, auto.job, self.retention_days)
            actions.append({"Put": {"TableName": self.table, "Item": item}})
        if turn_entry is not None:
            item = to_item(
                {"pk": pk, "sk": turn_sk(turn_entry["turnSeq"]), **turn_entry, **expiry(self.retention_days)}
            )
            actions.append(
                {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
            )
        try:
            with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))
        except ClientError as error:
            codes = cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                # the session item as the refused update found it (ReturnValuesOnConditionCheckFailure): none if gone
                found = error.response["CancellationReasons"][0].get("Item")
                if found is None:
                    raise SessionGone("session not found") from error
                raise SessionMoved(session_from(tenant_id, found)) from error
            raise
        return stamped

    def _session_update(
        self,
        pk: str,
        expected_seq: int,
        events: list[dict[str, Any]],
        now: str,
        changes: SessionChanges,
        blocks: list[Block],
        auto: AutoCompaction | None,
    ) -> dict[str, Any]:
        """The append's update of the session item: the blocks' metrics, the sequence moved on from the one read,
        the changes, and the guards they ask for."""
        update: dict[str, Any] = self.transactions.metrics_update(pk, now, **block_metrics(blocks))["Update"]
        values = update["ExpressionAttributeValues"]
        sets = ["eventSeq = :newSeq"]
        values[":newSeq"] = {"N": str(expected_seq + len(events))}
        values[":expectedSeq"] = {"N": str(expected_seq)}
        if auto is not None:
            sets.append("autoCompactionJob = :autoJob")
            values[":autoJob"] = {"S": auto.job["id"]}
        names: dict[str, str] = {}  # every changed attribute by placeholder: some (status) are reserved words
        for index, (name, value) in enumerate(changes.set.items()):
            names[f"#set{index}"] = name
            sets.append(f"#set{index} = :set{index}")
            values[f":set{index}"] = serialize(value)
        expression: str = update["UpdateExpression"].replace("SET ", "SET " + ", ".join(sets) + ", ", 1)
        for index, (name, amount) in enumerate(changes.add.items()):
            names[f"#inc{index}"] = name
            expression = expression.replace(" ADD ", f" ADD #inc{index} :inc{index}, ", 1)
            values[f":inc{index}"] = {"N": str(amount)}
        for index, name in enumerate(changes.remove):
            names[f"#remove{index}"] = name
        if changes.remove:
            expression += " REMOVE " + ", ".join(f"#remove{index}" for index in range(len(changes.remove)))
        condition = "attribute_exists(pk) AND eventSeq = :expectedSeq"
        if auto is not None:
            condition += " AND attribute_not_exists(autoCompactionJob)"
        if changes.turn_seq is not None:
            earlier = "turnsDone = :earlierTurn"
            if changes.turn_seq == 1:
                earlier = f"({earlier} OR attribute_not_exists(turnsDone))"
            condition += f" AND {earlier}"
            values[":earlierTurn"] = {"N": str(changes.turn_seq - 1)}
            if not changes.allow_cancelled:
                condition += " AND (attribute_not_exists(cancelledThrough) OR cancelledThrough < :turnSeq)"
                values[":turnSeq"] = {"N": str(changes.turn_seq)}
        update["UpdateExpression"] = expression
        if names:
            update["ExpressionAttributeNames"] = names
        update["ConditionExpression"] = condition
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"  # a refused writer learns where the session is
        return update

    def read(self, tenant_id: str, session_hex: str, after_seq: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Events after a sequence, oldest first; True when more follow."""
        return self.scan(tenant_id, session_hex, after_seq, None, False, limit, lambda event: True)

    def scan(
        self,
        tenant_id: str,
        session_hex: str,
        after_seq: int,
        before_seq: int | None,
        newest_first: bool,
        wanted: int,
        keep: Callable[[dict[str, Any]], bool],
        look_beyond: bool = True,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to `wanted` events with after_seq < sequence < before_seq that `keep` accepts, read from the oldest (or
        the newest) end; True when more such events lie beyond them. Events `keep` refuses are read and skipped.
        Without `look_beyond`, reading stops at the `wanted`-th (and False is returned): for a reader that knows how
        many there are and must not read on past them."""
        if before_seq is not None and before_seq <= after_seq + 1:
            return [], False
        upper = event_sk(before_seq - 1) if before_seq is not None else EVENTS_END_SK
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": to_item(
                {":pk": session_pk(tenant_id, session_hex), ":from": event_sk(after_seq + 1), ":to": upper}
            ),
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
            "Limit": min(wanted + 1, 1000),
        }
        found: list[dict[str, Any]] = []
        while True:
            response = dynamodb_client().query(**query)
            for item in response["Items"]:
                event = load_json(from_item(item)["record"])
                if keep(event):
                    if len(found) == wanted:
                        return found, True
                    found.append(event)
                    if len(found) == wanted and not look_beyond:
                        return found, False
            if "LastEvaluatedKey" not in response:
                return found, False
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            query["Limit"] = 1000

    def get_turn_entry(self, tenant_id: str, session_hex: str, turn_seq: int) -> dict[str, Any] | None:
        """The input of turn `turn_seq` (turnSeq, orderKey, turnId, messageId), or None when it never committed."""
        item = (
            dynamodb_client()
            .get_item(
                TableName=self.table,
                Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": turn_sk(turn_seq)}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return None if item is None else from_item(item)
