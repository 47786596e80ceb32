"""Compaction's writes in the context table: the per-session lock, job records, plans, and applying a summary.

- job record: pk `T#{tenant}#S#{hex}`, sk `C#{order key}` (JSON text), newest first by sort key. A running job's
  record also carries `leg` (the invocation carrying it on; a write from an earlier leg is refused) and, once
  completed or failed, `done` (nothing overwrites it).
- plan: same pk, sk `CP#{job order key}#{chunk}`: the job's steps, PLAN_CHUNK_STEPS to an item (JSON text).
- scan pages: same pk, sk `CS#{job order key}#{page}`: what planning needs of the active blocks (order key, tokens,
  importance, pinned, type, message roles), one item per page of blocks read, kept from the first leg of planning
  to the stored plan, then deleted.
- lock: `compactionJob` and `compactionLockUntil` on the session item, set only when absent or expired, so two
  compactions of one session never run at once and a crashed one does not hold the session forever.
"""

import json
from typing import Any

from botocore.exceptions import ClientError

from agentctx.domain import Block, Page
from agentctx.errors import Conflict, NotFound
from agentctx.store.context_store import (
    JOB_PREFIX,
    SESSION_SK,
    ContextStore,
    SessionGone,
    block_metrics,
    session_pk,
)
from agentctx.store.dynamo import (
    batch_write,
    cancellation_codes,
    dynamodb_client,
    from_item,
    to_item,
    with_conflict_retry,
)

PLAN_PREFIX = "CP#"
PLAN_CHUNK_STEPS = 200  # steps of at most 25 keys: about 150 KB an item, under DynamoDB's 400 KB
SCAN_PREFIX = "CS#"


class Superseded(Exception):
    """A later leg of the job (or its end) was recorded: this one stops without writing."""


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

    def _progress_item(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        return self._job_item(tenant_id, session_hex, job) | {"leg": {"N": str(job.get("leg", 0))}}

    # ----- plans -----

    def put_plan(self, tenant_id: str, session_hex: str, job_key: str, steps: list[dict[str, Any]]) -> int:
        """Store a job's steps in chunks (BatchWriteItem); the number of chunks."""
        pk = session_pk(tenant_id, session_hex)
        chunks = [steps[start : start + PLAN_CHUNK_STEPS] for start in range(0, len(steps), PLAN_CHUNK_STEPS)]
        batch_write(
            self.table,
            [
                {
                    "PutRequest": {
                        "Item": to_item({"pk": pk, "sk": self._plan_sk(job_key, index), "steps": json.dumps(chunk)})
                    }
                }
                for index, chunk in enumerate(chunks)
            ],
        )
        return len(chunks)

    def get_plan_chunk(self, tenant_id: str, session_hex: str, job_key: str, chunk: int) -> list[dict[str, Any]]:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": self._plan_sk(job_key, chunk)}),
            ConsistentRead=True,
        )
        if "Item" not in response:
            raise NotFound(f"chunk {chunk} of the plan of compaction {job_key} is missing")
        steps: list[dict[str, Any]] = json.loads(from_item(response["Item"])["steps"])
        return steps

    @staticmethod
    def _plan_sk(job_key: str, chunk: int) -> str:
        return f"{PLAN_PREFIX}{job_key}#{chunk:06d}"

    # ----- scan pages (planning's reading of the session, across legs) -----

    def put_scan_page(self, tenant_id: str, session_hex: str, job_key: str, page: int, records: list[Any]) -> None:
        """Store one page of planning records (a page written again by a retried leg replaces itself)."""
        item = {"pk": session_pk(tenant_id, session_hex), "sk": self._scan_sk(job_key, page)}
        dynamodb_client().put_item(TableName=self.table, Item=to_item(item | {"records": json.dumps(records)}))

    def scan_records(self, tenant_id: str, session_hex: str, job_key: str) -> list[Any]:
        """Every stored page's records, in page order: one Query page per MB (about 15,000 blocks)."""
        pk = session_pk(tenant_id, session_hex)
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": pk, ":prefix": f"{SCAN_PREFIX}{job_key}#"}),
            "ConsistentRead": True,
        }
        records: list[Any] = []
        while True:
            response = dynamodb_client().query(**query)
            for item in response["Items"]:
                records += json.loads(item["records"]["S"])
            if "LastEvaluatedKey" not in response:
                return records
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_scan_pages(self, tenant_id: str, session_hex: str, job_key: str, pages: int) -> None:
        pk = session_pk(tenant_id, session_hex)
        batch_write(
            self.table,
            [
                {"DeleteRequest": {"Key": to_item({"pk": pk, "sk": self._scan_sk(job_key, page)})}}
                for page in range(pages)
            ],
        )

    @staticmethod
    def _scan_sk(job_key: str, page: int) -> str:
        return f"{SCAN_PREFIX}{job_key}#{page:06d}"

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
