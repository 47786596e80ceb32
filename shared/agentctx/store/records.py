"""A session's JSON records: its invocations, its compaction jobs and its messages, each one item in the session's
partition (JSON text), in order-key order. Invocations and compaction jobs are listed newest first, messages oldest
first; a fork still being copied lists its source's messages up to the fork point as its own, then its own."""

from enum import StrEnum
from typing import Any

from agentctx import ids
from agentctx.domain import Page, Session
from agentctx.store.dynamo import dynamodb_client, from_item, load_json, to_item
from agentctx.store.items import invocation_item
from agentctx.store.keys import INVOCATION_SK_PREFIX, JOB_SK_PREFIX, MESSAGE_SK_PREFIX, session_pk


class RecordKind(StrEnum):
    """A kind of record; its value is also what a listing's cursor is bound to."""

    INVOCATION = INVOCATION_SK_PREFIX
    COMPACTION_JOB = JOB_SK_PREFIX
    MESSAGE = MESSAGE_SK_PREFIX


class RecordStore:
    def __init__(self, table: str) -> None:
        self.table = table

    def put_invocation(self, tenant_id: str, session_hex: str, record: dict[str, Any]) -> None:
        """Write an invocation's record (as it starts, say) by its order key."""
        item = invocation_item(session_pk(tenant_id, session_hex), record)
        dynamodb_client().put_item(TableName=self.table, Item=item)

    def get_invocation(self, tenant_id: str, session_hex: str, order_key: str) -> dict[str, Any] | None:
        return self._get(tenant_id, session_hex, RecordKind.INVOCATION, order_key)

    def get_job(self, tenant_id: str, session_hex: str, order_key: str) -> dict[str, Any] | None:
        """A compaction job's record."""
        return self._get(tenant_id, session_hex, RecordKind.COMPACTION_JOB, order_key)

    def get_message(self, tenant_id: str, session_hex: str, order_key: str) -> dict[str, Any] | None:
        return self._get(tenant_id, session_hex, RecordKind.MESSAGE, order_key)

    def list_newest(
        self, tenant_id: str, session_hex: str, kind: RecordKind, limit: int, after: str | None
    ) -> Page[dict[str, Any]]:
        """The session's records of one kind (invocations, compaction jobs), newest first."""
        return self._list(tenant_id, session_hex, kind, limit, after, newest_first=True)

    def list_messages(self, session: Session, limit: int, after: str | None) -> Page[dict[str, Any]]:
        """A page of the session's input and output messages, oldest first; a fork still being copied reads those up
        to its fork point from its source (shown as its own), then its own."""
        copy = session.copy
        if copy is None:
            return self._list(session.tenant_id, session.hex, RecordKind.MESSAGE, limit, after)
        fork_point = RecordKind.MESSAGE + copy.through
        inherited: list[dict[str, Any]] = []
        if after is None or after < fork_point:
            page = self._list(
                session.tenant_id, copy.source_hex, RecordKind.MESSAGE, limit, after, through=copy.through
            )
            inherited = [message | {"session_id": ids.RUNTIME_SESSION_PREFIX + session.hex} for message in page.items]
            if page.next_after is not None:
                return Page(inherited, page.next_after, page.truncated_by_bytes)
            after = fork_point
        own = self._list(session.tenant_id, session.hex, RecordKind.MESSAGE, max(1, limit - len(inherited)), after)
        if len(inherited) == limit:
            return Page(inherited, fork_point if own.items else None)
        return Page(inherited + own.items, own.next_after, own.truncated_by_bytes)

    def _get(self, tenant_id: str, session_hex: str, kind: RecordKind, order_key: str) -> dict[str, Any] | None:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": kind + order_key}),
            ConsistentRead=True,
        )
        return load_json(from_item(response["Item"])["record"]) if "Item" in response else None

    def _list(
        self,
        tenant_id: str,
        session_hex: str,
        kind: RecordKind,
        limit: int,
        after: str | None,
        newest_first: bool = False,
        through: str | None = None,
    ) -> Page[dict[str, Any]]:
        """Records of one kind in key order (or newest first); those up to order key `through`, when given."""
        pk = session_pk(tenant_id, session_hex)
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": pk, ":prefix": str(kind)}),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
            "Limit": limit + 1,
        }
        if through is not None:
            query["KeyConditionExpression"] = "pk = :pk AND sk BETWEEN :prefix AND :through"
            query["ExpressionAttributeValues"][":through"] = {"S": kind + through}
        if after:
            query["ExclusiveStartKey"] = to_item({"pk": pk, "sk": after})
        response = dynamodb_client().query(**query)
        items = response["Items"]
        page = items[:limit]
        # A Query reads at most 1 MB: a page of large records ends there, with a cursor, well inside the byte budget.
        short = len(items) <= limit and "LastEvaluatedKey" in response and bool(page)
        next_after = page[-1]["sk"]["S"] if len(items) > limit or short else None
        return Page([load_json(from_item(item)["record"]) for item in page], next_after, truncated_by_bytes=short)
