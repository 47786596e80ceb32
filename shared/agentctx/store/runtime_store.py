"""The agent-runtime side of a session: its event log, its messages and its turn state, in the context table.

Keys, beside the session's blocks (see context_store):
- event:   pk `T#{tenant}#S#{hex}`, sk `E#{sequence as 16 hex}`: one envelope (JSON text). Append-only; the
           session item's `eventSeq` is the last sequence written, and every append is one transaction that moves
           it on from the value the writer read, so sequences are gapless and two writers never share one.
- message: same pk, sk `M#{order key}`: an input or output message (JSON text), in session order.
- turn:    same pk, sk `TQ#{turn number as 16 hex}`: the input of turn n (its message's order key, turn and message
           ids), written with that message; the session item's `turnsQueued` is the last number given. The turn
           function finds the next turn to run here, and the stream dispatches a turn from this item's INSERT.

A block written with events (the input message, a turn's output and tool results) goes in the same transaction,
with the session's metrics, so the event log and the blocks never disagree.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from agentctx import ids
from agentctx.domain import Block, Page
from agentctx.store.context_store import (
    MESSAGE_PREFIX,
    AutoCompaction,
    ContextStore,
    SessionGone,
    block_metrics,
    session_pk,
)
from agentctx.store.dynamo import (
    cancellation_codes,
    dynamodb_client,
    from_item,
    load_json,
    serialize,
    to_item,
    with_conflict_retry,
)
from agentctx.store.keys import TURN_SK_PREFIX

EVENT_PREFIX = "E#"


class SessionMoved(Exception):
    """The session changed since it was read: another writer appended events, or a guard no longer holds."""


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


def _event_sk(sequence: int) -> str:
    return f"{EVENT_PREFIX}{sequence:016x}"


def turn_sk(turn_seq: int) -> str:
    return f"{TURN_SK_PREFIX}{turn_seq:016x}"


class RuntimeStore(ContextStore):
    def append_events(
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
        update = self._metrics_update(pk, now, **block_metrics(blocks))["Update"]
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
        actions: list[dict[str, Any]] = [{"Update": update}]
        actions += [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        # `type` beside the envelope lets the stream's filter pass turn endings alone (template.yaml)
                        {
                            "pk": pk,
                            "sk": _event_sk(event["sequence"]),
                            "type": event["type"],
                            "record": json.dumps(event),
                            **self.expiry(),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for event in stamped
        ]
        actions += [action for block in blocks for action in self.block_put_actions(pk, block)]
        actions += [
            {"Put": {"TableName": self.table, "Item": self.message_item(pk, message)}} for message in messages or []
        ]
        if auto is not None:
            actions.append({"Put": {"TableName": self.table, "Item": self._job_item(tenant_id, session_hex, auto.job)}})
        if turn_entry is not None:
            item = to_item({"pk": pk, "sk": turn_sk(turn_entry["turnSeq"]), **turn_entry, **self.expiry()})
            actions.append(
                {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
            )
        try:
            with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))
        except ClientError as error:
            codes = cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                if self.get_session(tenant_id, session_hex) is None:
                    raise SessionGone("session not found") from error
                raise SessionMoved from error
            raise
        return stamped

    def read_events(
        self, tenant_id: str, session_hex: str, after_seq: int, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Events after a sequence, oldest first; True when more follow."""
        items = dynamodb_client().query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues=to_item(
                {
                    ":pk": session_pk(tenant_id, session_hex),
                    ":from": _event_sk(after_seq + 1),
                    ":to": EVENT_PREFIX + "g",  # after every hex sequence
                }
            ),
            ConsistentRead=True,
            Limit=limit + 1,
        )["Items"]
        return [load_json(from_item(item)["record"]) for item in items[:limit]], len(items) > limit

    def list_messages(
        self, tenant_id: str, session_hex: str, limit: int, after: str | None, through: str | None = None
    ) -> Page[dict[str, Any]]:
        """The session's input and output messages, oldest first (up to order key `through`, when given)."""
        return self.list_records(tenant_id, session_hex, MESSAGE_PREFIX, limit, after, False, through)

    def get_message(self, tenant_id: str, session_hex: str, order_key: str) -> dict[str, Any] | None:
        return self.get_record(tenant_id, session_hex, MESSAGE_PREFIX, order_key)

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

    def cancel_queued(self, tenant_id: str, session_hex: str) -> None:
        """Mark every turn queued so far as cancelled, running or waiting: the session's last turn number, read and
        written by DynamoDB in one update, so a message committed after this call is never cancelled by it."""
        try:
            dynamodb_client().update_item(
                TableName=self.table,
                Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": "SESSION"}),
                UpdateExpression="SET cancelledThrough = if_not_exists(turnsQueued, :none)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=to_item({":none": 0}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise SessionGone("session not found") from error
            raise

    @staticmethod
    def message_item(pk: str, message: dict[str, Any]) -> dict[str, Any]:
        return to_item({"pk": pk, "sk": MESSAGE_PREFIX + message["order_key"], "record": json.dumps(message)})


def _event_query(
    table: str, pk: str, after_seq: int, before_seq: int | None, newest_first: bool, page: int
) -> dict[str, Any]:
    upper = _event_sk(before_seq - 1) if before_seq is not None else EVENT_PREFIX + "g"
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
        "ExpressionAttributeValues": to_item({":pk": pk, ":from": _event_sk(after_seq + 1), ":to": upper}),
        "ConsistentRead": True,
        "ScanIndexForward": not newest_first,
        "Limit": page,
    }


def scan_events(
    store: RuntimeStore,
    tenant_id: str,
    session_hex: str,
    after_seq: int,
    before_seq: int | None,
    newest_first: bool,
    wanted: int,
    keep: Callable[[dict[str, Any]], bool],
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `wanted` events with after_seq < sequence < before_seq that `keep` accepts, read from the oldest (or the
    newest) end; True when more such events lie beyond them. Events `keep` refuses are read and skipped."""
    if before_seq is not None and before_seq <= after_seq + 1:
        return [], False
    query = _event_query(
        store.table, session_pk(tenant_id, session_hex), after_seq, before_seq, newest_first, min(wanted + 1, 1000)
    )
    found: list[dict[str, Any]] = []
    while True:
        response = dynamodb_client().query(**query)
        for item in response["Items"]:
            event = json.loads(from_item(item)["record"])
            if keep(event):
                if len(found) == wanted:
                    return found, True
                found.append(event)
        if "LastEvaluatedKey" not in response:
            return found, False
        query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        query["Limit"] = 1000
