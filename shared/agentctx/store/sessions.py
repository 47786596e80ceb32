"""Sessions: create (with their first blocks and files, or as a fork whose copy starts), get, list, rename and
retag, delete, and the turn cancellation that a session's item carries.

A session is listed in its tenant's listing and in one per tag, written and removed in the same transaction as
the session item. Deleting a session leaves a purge marker in its place (see purge.py).
"""

from typing import Any

from botocore.exceptions import ClientError

from agentctx.domain import Block, Page, Session
from agentctx.store.block_actions import block_put_actions
from agentctx.store.dynamo import batch_get, batch_write, cancellation_codes, dynamodb_client, from_item, to_item
from agentctx.store.items import block_item, entry_items, file_item, session_from, session_item
from agentctx.store.keys import PURGE_SK, SESSION_SK, copy_sk, listing_pk, listing_pks, listing_sk, session_pk
from agentctx.store.transactions import SessionGone, Transactions


class SessionStore:
    def __init__(self, table: str, transactions: Transactions) -> None:
        self.table = table
        self.transactions = transactions

    def create(
        self,
        session: Session,
        blocks: list[Block] | None = None,
        files: dict[str, str] | None = None,
        copied: list[Block] | None = None,
        source_hex: str | None = None,
    ) -> None:
        """Write the blocks and files first and the session last, so a session is never visible without them. A
        fork is written with the first blocks copied from its source (`source_hex`; `copied`, as many as fit the
        transaction) after a check that its source exists; while it still copies (`session.copy`), its source is
        marked as being copied from."""
        pk = session_pk(session.tenant_id, session.hex)
        items = [item for block in blocks or [] for item in [block_item(pk, block), *entry_items(pk, block)]]
        items += [file_item(pk, path, content) for path, content in (files or {}).items()]
        if items:
            batch_write(self.table, [{"PutRequest": {"Item": item}} for item in items])
        listed = listing_sk(session.created_at, session.hex)
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": session_item(session),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        actions += [
            {"Put": {"TableName": self.table, "Item": to_item({"pk": listing, "sk": listed, "hex": session.hex})}}
            for listing in listing_pks(session.tenant_id, session.tags)
        ]
        actions += [action for block in copied or [] for action in block_put_actions(self.table, pk, block)]
        if source_hex is not None:
            actions += self._fork_actions(session, source_hex)
        try:
            dynamodb_client().transact_write_items(TransactItems=actions)
        except ClientError as error:
            if source_hex and cancellation_codes(error)[-1:] == ["ConditionalCheckFailed"]:
                raise SessionGone("session not found") from error
            raise

    def _fork_actions(self, fork: Session, source_hex: str) -> list[dict[str, Any]]:
        """A fork's source checked to exist (the last action), and while the fork copies, a `COPY#{fork}` item in
        its source's partition, which keeps the source's purge from removing blocks the fork still reads."""
        source_pk = session_pk(fork.tenant_id, source_hex)
        check = {
            "TableName": self.table,
            "Key": to_item({"pk": source_pk, "sk": SESSION_SK}),
            "ConditionExpression": "attribute_exists(pk)",
        }
        mark = to_item({"pk": source_pk, "sk": copy_sk(fork.hex)})
        return ([{"Put": {"TableName": self.table, "Item": mark}}] if fork.copy else []) + [{"ConditionCheck": check}]

    def get(self, tenant_id: str, session_hex: str) -> Session | None:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": SESSION_SK}),
            ConsistentRead=True,
        )
        return session_from(tenant_id, response["Item"]) if "Item" in response else None

    def get_many(self, tenant_id: str, session_hexes: list[str]) -> list[Session]:
        """The tenant's sessions among these (one BatchGetItem per 100); deleted or unknown ones are left out."""
        keys = [to_item({"pk": session_pk(tenant_id, hex_), "sk": SESSION_SK}) for hex_ in dict.fromkeys(session_hexes)]
        return [session_from(tenant_id, item) for item in batch_get(self.table, keys)] if keys else []

    def list_page(self, tenant_id: str, tag: str | None, limit: int, after: str | None) -> Page[Session]:
        """The tenant's sessions (or those with `tag`), newest first."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": listing_pk(tenant_id, tag)}),
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after:
            query["ExclusiveStartKey"] = to_item({"pk": listing_pk(tenant_id, tag), "sk": after})
        listed = dynamodb_client().query(**query)["Items"]
        page, has_more = listed[:limit], len(listed) > limit
        keys = [to_item({"pk": session_pk(tenant_id, from_item(item)["hex"]), "sk": SESSION_SK}) for item in page]
        found = {from_item(item)["pk"]: item for item in batch_get(self.table, keys)} if keys else {}
        sessions = [session_from(tenant_id, found[key["pk"]["S"]]) for key in keys if key["pk"]["S"] in found]
        return Page(items=sessions, next_after=page[-1]["sk"]["S"] if has_more else None)

    def update(self, session: Session, name: str, tags: list[str], now: str) -> None:
        """Rename and retag a session; its tag listings follow in the same transaction."""
        pk = session_pk(session.tenant_id, session.hex)
        listed = listing_sk(session.created_at, session.hex)
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": pk, "sk": SESSION_SK}),
                    "UpdateExpression": "SET #name = :name, tags = :tags, updatedAt = :now",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeNames": {"#name": "name"},
                    "ExpressionAttributeValues": to_item({":name": name, ":tags": tags, ":now": now}),
                }
            }
        ]
        actions += [
            {"Delete": {"TableName": self.table, "Key": to_item({"pk": listing, "sk": listed})}}
            for listing in listing_pks(session.tenant_id, [tag for tag in session.tags if tag not in tags])[1:]
        ]
        actions += [
            {"Put": {"TableName": self.table, "Item": to_item({"pk": listing, "sk": listed, "hex": session.hex})}}
            for listing in listing_pks(session.tenant_id, [tag for tag in tags if tag not in session.tags])[1:]
        ]
        self.transactions.on_session(actions)

    def delete(self, session: Session, now: str) -> None:
        """One transaction: the session item goes, so every reader and every conditional writer finds the session
        gone at once; its listings go with it; and a purge marker takes its place, naming the tokens the background
        purge counts out of the tenant's storage when it has removed the session's items. A fork still being copied
        also takes its `COPY#` mark off its source (a mark exists exactly while its fork exists and copies), so the
        source's purge never waits on a fork that is gone; deleting a mark its copy has just removed is harmless."""
        pk = session_pk(session.tenant_id, session.hex)
        listed = listing_sk(session.created_at, session.hex)
        marker = {"pk": pk, "sk": PURGE_SK, "totalTokens": session.total_tokens, "deletedAt": now}
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": to_item({"pk": pk, "sk": SESSION_SK}),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {"Put": {"TableName": self.table, "Item": to_item(marker)}},
        ]
        actions += [
            {"Delete": {"TableName": self.table, "Key": to_item({"pk": listing, "sk": listed})}}
            for listing in listing_pks(session.tenant_id, session.tags)
        ]
        if session.copy is not None:
            mark = {"pk": session_pk(session.tenant_id, session.copy.source_hex), "sk": copy_sk(session.hex)}
            actions.append({"Delete": {"TableName": self.table, "Key": to_item(mark)}})
        self.transactions.on_session(actions)

    def purge_pending(self, tenant_id: str, session_hex: str) -> bool:
        """True while a deleted session's items are still being removed."""
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": PURGE_SK}),
            ConsistentRead=True,
            ProjectionExpression="pk",
        )
        return "Item" in response

    def cancel_queued_turns(self, tenant_id: str, session_hex: str) -> None:
        """Mark every turn queued so far as cancelled, running or waiting: the session's last turn number, read and
        written by DynamoDB in one update, so a message committed after this call is never cancelled by it."""
        try:
            dynamodb_client().update_item(
                TableName=self.table,
                Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": SESSION_SK}),
                UpdateExpression="SET cancelledThrough = if_not_exists(turnsQueued, :none)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=to_item({":none": 0}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise SessionGone("session not found") from error
            raise
