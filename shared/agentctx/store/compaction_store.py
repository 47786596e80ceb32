"""Compaction's writes in the context table: the per-session lock, job records, and applying a summary.

- job record: pk `T#{tenant}#S#{hex}`, sk `C#{order key}` (JSON text), newest first by sort key.
- lock: `compactionJob` and `compactionLockUntil` on the session item, set only when absent or expired, so two
  compactions of one session never run at once and a crashed one does not hold the session forever.
"""

from typing import Any

from botocore.exceptions import ClientError

from agentctx.domain import Block, Page
from agentctx.errors import Conflict
from agentctx.store.context_store import (
    JOB_PREFIX,
    SESSION_SK,
    ContextStore,
    SessionGone,
    block_metrics,
    session_pk,
)
from agentctx.store.dynamo import dynamodb_client, to_item


class CompactionStore(ContextStore):
    # ----- jobs -----

    def put_job(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> None:
        dynamodb_client().put_item(TableName=self.table, Item=self._job_item(tenant_id, session_hex, job))

    def queue_job(self, tenant_id: str, session_hex: str, job: dict[str, Any], *, once: bool) -> bool:
        """Record a queued job, with the session checked in the same transaction. With `once`, only while no
        automatic compaction is pending (the session's `autoCompactionJob`): False when one already is."""
        pk = session_pk(tenant_id, session_hex)
        session_check: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item({"pk": pk, "sk": SESSION_SK}),
        }
        if once:
            session_check |= {
                "UpdateExpression": "SET autoCompactionJob = :job",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(autoCompactionJob)",
                "ExpressionAttributeValues": to_item({":job": job["id"]}),
            }
            first: dict[str, Any] = {"Update": session_check}
        else:
            first = {"ConditionCheck": session_check | {"ConditionExpression": "attribute_exists(pk)"}}
        try:
            dynamodb_client().transact_write_items(
                TransactItems=[
                    first,
                    {"Put": {"TableName": self.table, "Item": self._job_item(tenant_id, session_hex, job)}},
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                if once and self.get_session(tenant_id, session_hex) is not None:
                    return False
                raise SessionGone("session not found") from error
            raise
        return True

    def get_job(self, tenant_id: str, session_hex: str, job_key: str) -> dict[str, Any] | None:
        return self.get_record(tenant_id, session_hex, JOB_PREFIX, job_key)

    def list_jobs(self, tenant_id: str, session_hex: str, limit: int, after: str | None) -> Page[dict[str, Any]]:
        return self.list_records(tenant_id, session_hex, JOB_PREFIX, limit, after)

    # ----- the lock -----

    def claim(self, tenant_id: str, session_hex: str, job_id: str, now_epoch: int, hold_seconds: int) -> None:
        """Take the session's compaction lock for this job; Conflict when another job holds it."""
        try:
            dynamodb_client().update_item(
                TableName=self.table,
                Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": SESSION_SK}),
                UpdateExpression="SET compactionJob = :job, compactionLockUntil = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(compactionJob) OR compactionJob = :job "
                    "OR compactionLockUntil < :now)"
                ),
                ExpressionAttributeValues=to_item(
                    {":job": job_id, ":until": now_epoch + hold_seconds, ":now": now_epoch}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                if self.get_session(tenant_id, session_hex) is None:
                    raise SessionGone("session not found") from error
                raise Conflict("another compaction of this session is running") from error
            raise

    def release(self, tenant_id: str, session_hex: str, job_id: str) -> None:
        """Drop the lock (and a pending automatic-compaction mark) if this job still holds it."""
        try:
            dynamodb_client().update_item(
                TableName=self.table,
                Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": SESSION_SK}),
                UpdateExpression="REMOVE compactionJob, compactionLockUntil, autoCompactionJob",
                ConditionExpression="compactionJob = :job",
                ExpressionAttributeValues=to_item({":job": job_id}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # ----- applying a summary -----

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
        session_update = self._metrics_update(pk, now, **block_metrics([summary], covered))
        if count:
            update = session_update["Update"]
            update["UpdateExpression"] = update["UpdateExpression"].replace(" ADD ", " ADD compactionCount :one, ", 1)
            update["ExpressionAttributeValues"][":one"] = {"N": "1"}
        actions = [session_update, *self.block_put_actions(pk, summary)]
        actions += [action for block in covered for action in self.block_deactivate_actions(pk, block, summary.id)]
        self._transact_on_session(actions)
