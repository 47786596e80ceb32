"""A compaction job's plan and planning's scan pages, in the session's partition (so deleting the session deletes
them).

- plan: `CP#{job order key}#{chunk}`: the job's steps, PLAN_CHUNK_STEPS to an item (JSON text).
- scan pages: `CS#{job order key}#{page}`: what planning needs of the active blocks (order key, tokens, importance,
  pinned, type, message roles), one item per page of blocks read, kept from the first leg of planning to the
  stored plan, then deleted.
"""

import json
from typing import Any

from agentctx.errors import NotFound
from agentctx.store.dynamo import batch_write, dump_json, dynamodb_client, from_item, to_item
from agentctx.store.keys import plan_sk, scan_sk, scan_sk_prefix, session_pk

PLAN_CHUNK_STEPS = 200  # steps of at most 25 keys: about 150 KB an item, under DynamoDB's 400 KB


class CompactionPlans:
    def __init__(self, table: str) -> None:
        self.table = table

    def put_plan(self, tenant_id: str, session_hex: str, job_key: str, steps: list[dict[str, Any]]) -> int:
        """Store a job's steps in chunks (BatchWriteItem); the number of chunks."""
        pk = session_pk(tenant_id, session_hex)
        chunks = [steps[start : start + PLAN_CHUNK_STEPS] for start in range(0, len(steps), PLAN_CHUNK_STEPS)]
        batch_write(
            self.table,
            [
                {"PutRequest": {"Item": to_item({"pk": pk, "sk": plan_sk(job_key, index), "steps": dump_json(chunk)})}}
                for index, chunk in enumerate(chunks)
            ],
        )
        return len(chunks)

    def get_plan_chunk(self, tenant_id: str, session_hex: str, job_key: str, chunk: int) -> list[dict[str, Any]]:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": plan_sk(job_key, chunk)}),
            ConsistentRead=True,
        )
        if "Item" not in response:
            raise NotFound(f"chunk {chunk} of the plan of compaction {job_key} is missing")
        steps: list[dict[str, Any]] = json.loads(from_item(response["Item"])["steps"])
        return steps

    def put_scan_page(self, tenant_id: str, session_hex: str, job_key: str, page: int, records: list[Any]) -> None:
        """Store one page of planning records (a page written again by a retried leg replaces itself)."""
        item = {"pk": session_pk(tenant_id, session_hex), "sk": scan_sk(job_key, page)}
        dynamodb_client().put_item(TableName=self.table, Item=to_item(item | {"records": dump_json(records)}))

    def scan_records(self, tenant_id: str, session_hex: str, job_key: str) -> list[Any]:
        """Every stored page's records, in page order: one Query page per MB (about 15,000 blocks)."""
        pk = session_pk(tenant_id, session_hex)
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": pk, ":prefix": scan_sk_prefix(job_key)}),
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
            [{"DeleteRequest": {"Key": to_item({"pk": pk, "sk": scan_sk(job_key, page)})}} for page in range(pages)],
        )
