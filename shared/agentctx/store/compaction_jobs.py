"""Compaction's job records and the per-session lock, in the context table.

- job record: `C#{order key}` in the session's partition (JSON text; read and listed through records.py). A running
  job's record also carries `leg` (the invocation carrying it on; a write from an earlier leg is refused) and, once
  completed or failed, `done` (nothing overwrites it).
- lock: `compactionJob` and `compactionLockUntil` on the session item, set only when absent or expired, so two
  compactions of one session never run at once and a crashed one does not hold the session forever. A pending
  automatic compaction is marked `autoCompactionJob` there too, so one is queued at a time.
"""

from typing import Any

from botocore.exceptions import ClientError

from agentctx.errors import Busy
from agentctx.store.dynamo import cancellation_codes, dynamodb_client, to_item, with_conflict_retry
from agentctx.store.items import job_item
from agentctx.store.keys import SESSION_SK, session_pk
from agentctx.store.sessions import SessionStore
from agentctx.store.transactions import SessionGone


class Superseded(Exception):
    """A later leg of the job (or its end) was recorded: this one stops without writing."""


class CompactionJobs:
    def __init__(self, table: str, sessions: SessionStore, retention_days: int) -> None:
        self.table = table
        self.sessions = sessions
        # Job records expire after this many days (the table's TTL attribute); 0 keeps them.
        self.retention_days = retention_days

    def put(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> None:
        dynamodb_client().put_item(TableName=self.table, Item=self._item(tenant_id, session_hex, job))

    def queue(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> None:
        """Record a queued job, with the session checked in the same transaction."""
        pk = session_pk(tenant_id, session_hex)
        session_check = {
            "TableName": self.table,
            "Key": to_item({"pk": pk, "sk": SESSION_SK}),
            "ConditionExpression": "attribute_exists(pk)",
        }
        actions = [
            {"ConditionCheck": session_check},
            {"Put": {"TableName": self.table, "Item": self._item(tenant_id, session_hex, job)}},
        ]
        try:
            with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))
        except ClientError as error:
            if cancellation_codes(error)[:1] == ["ConditionalCheckFailed"]:
                raise SessionGone("session not found") from error
            raise

    def save_progress(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> None:
        """Record a running job's progress, unless a later leg took it over or it ended (Superseded)."""
        try:
            dynamodb_client().put_item(
                TableName=self.table,
                Item=self._progress_item(tenant_id, session_hex, job),
                ConditionExpression="attribute_not_exists(done) AND (attribute_not_exists(leg) OR leg <= :leg)",
                ExpressionAttributeValues=to_item({":leg": job.get("leg", 0)}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Superseded(job["id"]) from error
            raise

    def finish(self, tenant_id: str, session_hex: str, job: dict[str, Any], *, count: bool) -> bool:
        """Record the job's end and, in the same transaction, release the session's lock and automatic-compaction
        mark (and count a compaction that changed something). False when the job no longer held the lock (its
        session is gone, or it was recorded ended already): then only the record is written, if it may be."""
        pk = session_pk(tenant_id, session_hex)
        release: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item({"pk": pk, "sk": SESSION_SK}),
            "UpdateExpression": "REMOVE compactionJob, compactionLockUntil, autoCompactionJob"
            + (" ADD compactionCount :one" if count else ""),
            "ConditionExpression": "compactionJob = :job",
            "ExpressionAttributeValues": to_item({":job": job["id"]} | ({":one": 1} if count else {})),
        }
        record: dict[str, Any] = {
            "TableName": self.table,
            "Item": self._progress_item(tenant_id, session_hex, job) | {"done": {"BOOL": True}},
            "ConditionExpression": "attribute_not_exists(done) AND (attribute_not_exists(leg) OR leg <= :leg)",
            "ExpressionAttributeValues": to_item({":leg": job.get("leg", 0)}),
        }
        try:
            with_conflict_retry(
                lambda: dynamodb_client().transact_write_items(TransactItems=[{"Update": release}, {"Put": record}])
            )
            return True
        except ClientError as error:
            codes = cancellation_codes(error)
            if len(codes) < 2 or codes[0] != "ConditionalCheckFailed" and codes[1] != "ConditionalCheckFailed":
                raise
            if codes[1] == "ConditionalCheckFailed":
                return False  # ended already, or a later leg carries it on: its record stands
        try:
            dynamodb_client().put_item(**record)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return False

    def release_failed(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> None:
        """Record a job that the queue gave up on as ended, and drop the session's lock and automatic-compaction
        mark where they are this job's (a mark or lock of another job is left alone)."""
        try:
            dynamodb_client().put_item(
                TableName=self.table,
                Item=self._progress_item(tenant_id, session_hex, job) | {"done": {"BOOL": True}},
                ConditionExpression="attribute_not_exists(done)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return
        key = to_item({"pk": session_pk(tenant_id, session_hex), "sk": SESSION_SK})
        for attributes, holder in (
            ("autoCompactionJob", "autoCompactionJob"),
            ("compactionJob, compactionLockUntil", "compactionJob"),
        ):
            try:
                dynamodb_client().update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression=f"REMOVE {attributes}",
                    ConditionExpression=f"{holder} = :job",
                    ExpressionAttributeValues=to_item({":job": job["id"]}),
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

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
                if self.sessions.get(tenant_id, session_hex) is None:
                    raise SessionGone("session not found") from error
                raise Busy("another compaction of this session is running", 5) from error
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

    def _item(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        return job_item(tenant_id, session_hex, job, self.retention_days)

    def _progress_item(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        return self._item(tenant_id, session_hex, job) | {"leg": {"N": str(job.get("leg", 0))}}
