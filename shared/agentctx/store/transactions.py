"""Transactions on a session's partition: sent with the retry DynamoDB's conflicts call for, their cancellations read
as domain errors, the session update that goes with every block write, and the watch on the session's
automatic-compaction threshold.

Every block write is one transaction whose first action updates the session item (its metrics), conditioned on
the session existing: a write to a deleted session fails as SessionGone, whatever else it holds. An append's
transaction may also move the tenant's stored-token counter, conditioned on its quota: refused, it fails as
Throttled.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from agentctx.errors import NotFound
from agentctx.store.dynamo import cancellation_codes, dynamodb_client, to_item, with_conflict_retry
from agentctx.store.items import job_item
from agentctx.store.keys import SESSION_SK
from agentctx.store.usage_store import UsageStore


@dataclass
class AutoCompaction:
    """Queue `job` if a write takes the session past its automatic-compaction threshold."""

    job: dict[str, Any]


class BlockMoved(Exception):
    """The block changed (or went) since it was read; read it again."""


class SessionGone(NotFound):
    """The session was deleted (or never existed) when a write to it was attempted."""


class Transactions:
    def __init__(self, table: str, retention_days: int, usage: UsageStore) -> None:
        self.table = table
        self.retention_days = retention_days
        self.usage = usage

    def on_session(self, actions: list[dict[str, Any]]) -> None:
        """A write whose first action is the session's; Throttled when the storage quota refused it, NotFound when
        a later condition (a block's) failed."""
        try:
            with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))
        except ClientError as error:
            codes = cancellation_codes(error)
            failed = [action for action, code in zip(actions, codes, strict=False) if code == "ConditionalCheckFailed"]
            refused = self.usage.refusal(failed)
            if refused:
                raise refused from error
            if codes and codes[0] == "ConditionalCheckFailed":
                raise SessionGone("session not found") from error
            if "ConditionalCheckFailed" in codes:
                raise NotFound("block not found") from error
            raise

    def on_block(self, actions: list[dict[str, Any]]) -> None:
        """A write to one block (second action) with the session's update (first)."""
        try:
            with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))
        except ClientError as error:
            codes = cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise SessionGone("session not found") from error
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise BlockMoved from error
            raise

    def watching_threshold(
        self,
        tenant_id: str,
        session_hex: str,
        actions: list[dict[str, Any]],
        added: int,
        auto: AutoCompaction | None,
        session_exists: Callable[[], bool],
    ) -> bool:
        """Like on_session, but when the write takes the session past its automatic-compaction threshold (its
        `autoHeadroom`, the tokens left below the threshold, kept beside totalTokens, would go below zero) and no
        automatic compaction is pending, it also marks the session and records `auto.job`, in the same transaction.
        Ordinary writes stay one call: the crossing shows up as a failed condition, and only then (the session
        still existing) is the write sent again. True when the job was recorded."""
        if auto is None or added <= 0:
            self.on_session(actions)
            return False
        update = actions[0]["Update"]
        update["ConditionExpression"] = (
            "attribute_exists(pk) AND (attribute_exists(autoCompactionJob) OR autoHeadroom >= :autoAdded)"
        )
        update["ExpressionAttributeValues"][":autoAdded"] = {"N": str(added)}
        try:
            self.on_session(actions)
            return False
        except SessionGone:
            if not session_exists():
                raise
        del update["ExpressionAttributeValues"][":autoAdded"]
        plain_condition = "attribute_exists(pk)"
        update["ConditionExpression"] = plain_condition + " AND attribute_not_exists(autoCompactionJob)"
        update["UpdateExpression"] = update["UpdateExpression"].replace("SET ", "SET autoCompactionJob = :autoJob, ", 1)
        update["ExpressionAttributeValues"][":autoJob"] = {"S": auto.job["id"]}
        job = job_item(tenant_id, session_hex, auto.job, self.retention_days)
        marked = actions + [{"Put": {"TableName": self.table, "Item": job}}]
        try:
            self.on_session(marked)
            return True
        except SessionGone:
            pass  # another write marked the session first; write this one plainly
        update["ConditionExpression"] = plain_condition
        update["UpdateExpression"] = update["UpdateExpression"].replace("SET autoCompactionJob = :autoJob, ", "SET ", 1)
        del update["ExpressionAttributeValues"][":autoJob"]
        self.on_session(actions)
        return False

    def metrics_update(
        self,
        pk: str,
        now: str,
        *,
        tokens: int = 0,
        count: int = 0,
        invocations: int = 0,
        pinned: int = 0,
        summaries: int = 0,
        must_exist: bool = True,
    ) -> dict[str, Any]:
        """The session update that goes with every block write: metrics, and the counts of active pinned blocks and
        summaries (assembly skips their reads when there are none)."""
        additions = {
            "totalTokens": tokens,
            "autoHeadroom": -tokens,
            "blockCount": count,
            "invocationCount": invocations,
            "pinnedCount": pinned,
            "summaryCount": summaries,
        }
        expression = "SET updatedAt = :now ADD " + ", ".join(f"{name} :{name}" for name in additions)
        values = {":now": now} | {f":{name}": value for name, value in additions.items()}
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item({"pk": pk, "sk": SESSION_SK}),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": to_item(values),
        }
        if must_exist:
            update["ConditionExpression"] = "attribute_exists(pk)"
        return {"Update": update}
