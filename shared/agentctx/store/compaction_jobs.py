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

from agentctx.domain import Block
from agentctx.errors import Busy
from agentctx.store.block_actions import block_metrics, block_put_actions
from agentctx.store.dynamo import cancellation_codes, dump_json, dynamodb_client, to_item, with_conflict_retry
from agentctx.store.items import job_item
from agentctx.store.keys import SESSION_SK, block_sk, session_pk
from agentctx.store.sessions import SessionStore
from agentctx.store.transactions import BlockMoved, SessionGone, Transactions


class Superseded(Exception):
    """A later leg of the job (or its end) was recorded: this one stops without writing."""


class CompactionJobs:
    def __init__(self, table: str, sessions: SessionStore, transactions: Transactions, retention_days: int) -> None:
        self.table = table
        self.sessions = sessions
        self.transactions = transactions
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

    def finish(
        self,
        tenant_id: str,
        session_hex: str,
        job: dict[str, Any],
        *,
        count: bool,
        ledger: Block | None = None,
        previous_ledger: Block | None = None,
    ) -> bool:
        """Record the job's end and, in the same transaction, release the session's lock and automatic-compaction
        mark (and count a compaction that changed something), and write the session's artifact ledger with the
        session's metrics: a new one (`previous_ledger` None) with its filter entries, else only its content.
        False when the job no longer held the lock (its session is gone, or it was recorded ended already): then
        only the record is written, if it may be. BlockMoved when the ledger changed since it was read."""
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
        ledger_actions: list[dict[str, Any]] = []
        if ledger is not None:
            release, ledger_actions = self._with_ledger(pk, job, count, ledger, previous_ledger)
        try:
            with_conflict_retry(
                lambda: dynamodb_client().transact_write_items(
                    TransactItems=[{"Update": release}, {"Put": record}, *ledger_actions]
                )
            )
            return True
        except ClientError as error:
            codes = cancellation_codes(error)
            if "ConditionalCheckFailed" in codes[2:] and "ConditionalCheckFailed" not in codes[:2]:
                raise BlockMoved from error
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

    def _with_ledger(
        self, pk: str, job: dict[str, Any], count: bool, ledger: Block, previous: Block | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The lock's release merged with the ledger's change of the session's metrics (one update of the session
        item, as a transaction allows), and the ledger's own actions."""
        metrics = block_metrics([ledger], [previous] if previous else [])
        release: dict[str, Any] = self.transactions.metrics_update(pk, job["completedAt"], **metrics)["Update"]
        release["UpdateExpression"] += " REMOVE compactionJob, compactionLockUntil, autoCompactionJob"
        release["ConditionExpression"] = "compactionJob = :job"
        release["ExpressionAttributeValues"] |= to_item({":job": job["id"]})
        if count:
            release["UpdateExpression"] = release["UpdateExpression"].replace(" ADD ", " ADD compactionCount :one, ", 1)
            release["ExpressionAttributeValues"][":one"] = {"N": "1"}
        if previous is None:
            return release, block_put_actions(self.table, pk, ledger)
        content = {
            "TableName": self.table,
            "Key": to_item({"pk": pk, "sk": block_sk(ledger.order_key)}),
            "UpdateExpression": "SET content = :content, tokenCount = :tokens",
            "ConditionExpression": "attribute_exists(bsk) AND tokenCount = :wasTokens",
            "ExpressionAttributeValues": to_item(
                {
                    ":content": dump_json(ledger.content),
                    ":tokens": ledger.token_count,
                    ":wasTokens": previous.token_count,
                }
            ),
        }
        return release, [{"Update": content}]

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
