"""Sessions and their blocks in the context table.

Keys (every partition key starts with the tenant, so no request can reach another tenant's items):
- session:        pk `T#{tenant}#S#{hex}`, sk `SESSION`; metrics kept on it, updated in the same transaction
                  as every block write, and the ids of its pinned blocks (a set, so they are found without
                  reading the blocks).
- block:          same pk, sk `B#{order key}`. Active blocks also carry `bsk` (a copy of sk), the sort key of the
                  sparse local secondary index `BlockMeta`, which projects everything but the content: listings,
                  the session's block ids and selections read only that index, and only active blocks.
- invocation:     same pk, sk `I#{order key}`: the record of one invocation on the session (JSON text).
- compaction job: same pk, sk `C#{order key}` (JSON text).
- session lists:  pk `T#{tenant}#SESSIONS` or `T#{tenant}#TAG#{tag}`, sk `{createdAt}#{hex}`: a Query
                  lists a tenant's sessions, or those with a tag, newest first.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from agentctx import ids
from agentctx.domain import (
    Block,
    BlockType,
    CapabilityRef,
    Page,
    RuntimeConfig,
    Session,
    SessionStatus,
    TurnState,
)
from agentctx.errors import NotFound
from agentctx.store.dynamo import (
    MAX_TRANSACTION_ACTIONS,
    MAX_TRANSACTION_BYTES,
    batch_get,
    batch_write,
    cancellation_codes,
    dynamodb_client,
    from_item,
    load_json,
    to_item,
    with_conflict_retry,
)

SESSION_SK = "SESSION"
BLOCK_PREFIX = "B#"
INVOCATION_PREFIX = "I#"
JOB_PREFIX = "C#"
BLOCK_META_INDEX = "BlockMeta"


def session_pk(tenant_id: str, session_hex: str) -> str:
    return f"T#{tenant_id}#S#{session_hex}"


def _listing_pks(tenant_id: str, tags: list[str]) -> list[str]:
    return [f"T#{tenant_id}#SESSIONS"] + [f"T#{tenant_id}#TAG#{tag}" for tag in tags]


def _listing_pk(tenant_id: str, tag: str | None) -> str:
    return f"T#{tenant_id}#TAG#{tag}" if tag else f"T#{tenant_id}#SESSIONS"


def _id_sets(blocks: list[Block]) -> dict[str, list[str]]:
    return {
        "pinnedBlocks": [block.id for block in blocks if block.pinned],
        "summaryBlocks": [block.id for block in blocks if block.type is BlockType.SUMMARY and not block.compacted],
    }


def _runtime_attributes(session: Session) -> dict[str, Any]:
    runtime, turns = session.runtime, session.turns
    attributes: dict[str, Any] = {"status": turns.status.value, "eventSeq": turns.event_seq}
    if runtime is not None:
        attributes |= {
            "agentId": runtime.agent_id,
            "modelId": runtime.model_id,
            "capabilities": json.dumps([{"ref": cap.ref, "config": cap.config} for cap in runtime.capabilities]),
            "locale": runtime.locale,
            "forkedFrom": runtime.forked_from,
        }
    return attributes | {
        "turnsQueued": turns.queued,
        "turnsDone": turns.done,
        "cancelledThrough": turns.cancelled_through,
        "preview": turns.preview,
        "outputPreview": turns.output_preview,
        "inputTokensUsed": turns.input_tokens,
        "outputTokensUsed": turns.output_tokens,
        "startedAt": turns.started_at,
        "finishedAt": turns.finished_at,
    }


def _runtime_from(values: dict[str, Any]) -> RuntimeConfig | None:
    if "agentId" not in values:
        return None
    capabilities = [CapabilityRef(cap["ref"], cap["config"]) for cap in load_json(values.get("capabilities", "[]"))]
    return RuntimeConfig(
        values["agentId"], values.get("modelId"), capabilities, values.get("locale"), values.get("forkedFrom")
    )


def _turns_from(values: dict[str, Any]) -> TurnState:
    return TurnState(
        status=SessionStatus(values.get("status", SessionStatus.STARTED.value)),
        event_seq=values.get("eventSeq", 0),
        queued=values.get("turnsQueued", 0),
        done=values.get("turnsDone", 0),
        cancelled_through=values.get("cancelledThrough", 0),
        active_turn=values.get("activeTurn"),
        active_seq=values.get("activeTurnSeq", 0),
        attempt=values.get("turnAttempt", 0),
        last_input_key=values.get("lastInputKey", ""),
        preview=values.get("preview"),
        output_preview=values.get("outputPreview"),
        input_tokens=values.get("inputTokensUsed", 0),
        output_tokens=values.get("outputTokensUsed", 0),
        started_at=values.get("startedAt"),
        finished_at=values.get("finishedAt"),
    )


@dataclass
class AutoCompaction:
    """Queue `job` if a write takes the session past its automatic-compaction threshold."""

    job: dict[str, Any]


class SessionGone(NotFound):
    """The session was deleted (or never existed) when a write to it was attempted."""


class ContextStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    # ----- sessions -----

    def create_session(
        self, session: Session, blocks: list[Block], other_items: list[dict[str, Any]] | None = None
    ) -> None:
        """Write the blocks (and other items of the partition, such as a fork's messages) first and the session
        last, so a session is never visible without its blocks."""
        pk = session_pk(session.tenant_id, session.hex)
        items = [self._block_item(pk, block) for block in blocks] + (other_items or [])
        if items:
            batch_write(self.table, [{"PutRequest": {"Item": item}} for item in items])
        listing_sk = f"{session.created_at}#{session.hex}"
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._session_item(session),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        actions += [
            {"Put": {"TableName": self.table, "Item": to_item({"pk": listing, "sk": listing_sk, "hex": session.hex})}}
            for listing in _listing_pks(session.tenant_id, session.tags)
        ]
        dynamodb_client().transact_write_items(TransactItems=actions)

    def get_session(self, tenant_id: str, session_hex: str) -> Session | None:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": SESSION_SK}),
            ConsistentRead=True,
        )
        return self._session_from(tenant_id, response["Item"]) if "Item" in response else None

    def list_sessions(self, tenant_id: str, tag: str | None, limit: int, after: str | None) -> Page[Session]:
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": _listing_pk(tenant_id, tag)}),
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after:
            query["ExclusiveStartKey"] = to_item({"pk": _listing_pk(tenant_id, tag), "sk": after})
        listed = dynamodb_client().query(**query)["Items"]
        page, has_more = listed[:limit], len(listed) > limit
        keys = [to_item({"pk": session_pk(tenant_id, from_item(item)["hex"]), "sk": SESSION_SK}) for item in page]
        found = {from_item(item)["pk"]: item for item in batch_get(self.table, keys)} if keys else {}
        sessions = [self._session_from(tenant_id, found[key["pk"]["S"]]) for key in keys if key["pk"]["S"] in found]
        return Page(items=sessions, next_after=page[-1]["sk"]["S"] if has_more else None)

    def update_session(self, session: Session, name: str, tags: list[str], now: str) -> None:
        """Rename and retag a session; its tag listings follow in the same transaction."""
        pk = session_pk(session.tenant_id, session.hex)
        listing_sk = f"{session.created_at}#{session.hex}"
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
            {"Delete": {"TableName": self.table, "Key": to_item({"pk": listing, "sk": listing_sk})}}
            for listing in _listing_pks(session.tenant_id, [tag for tag in session.tags if tag not in tags])[1:]
        ]
        actions += [
            {"Put": {"TableName": self.table, "Item": to_item({"pk": listing, "sk": listing_sk, "hex": session.hex})}}
            for listing in _listing_pks(session.tenant_id, [tag for tag in tags if tag not in session.tags])[1:]
        ]
        self._transact_on_session(actions)

    def delete_session(self, session: Session) -> None:
        """Remove the session and its listings in one transaction, then its blocks."""
        pk = session_pk(session.tenant_id, session.hex)
        listing_sk = f"{session.created_at}#{session.hex}"
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": to_item({"pk": pk, "sk": SESSION_SK}),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
        ]
        actions += [
            {"Delete": {"TableName": self.table, "Key": to_item({"pk": listing, "sk": listing_sk})}}
            for listing in _listing_pks(session.tenant_id, session.tags)
        ]
        self._transact_on_session(actions)
        self._purge_blocks(pk)

    def _purge_blocks(self, pk: str) -> None:
        """Delete what is left in the session's partition: blocks, records, messages, events and files."""
        paginator = dynamodb_client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item({":pk": pk}),
            ProjectionExpression="pk, sk",
        )
        for page in pages:
            batch_write(self.table, [{"DeleteRequest": {"Key": item}} for item in page["Items"]])

    # ----- blocks -----

    def append_blocks(
        self, tenant_id: str, session_hex: str, blocks: list[Block], now: str, auto: AutoCompaction | None = None
    ) -> bool:
        """Store the blocks and add them to the session's metrics, in as few transactions as DynamoDB allows.

        A batch that fits one transaction (98 blocks and 3.5 MB) is atomic. A larger one is written in several;
        if a later one fails, the earlier ones are taken back before the error is raised. True when the write
        crossed the session's threshold and queued its automatic compaction job.
        """
        pk = session_pk(tenant_id, session_hex)
        written: list[list[Block]] = []
        queued = False
        try:
            for group in self._transaction_groups(blocks):
                active = [block for block in group if not block.compacted]
                actions = self._append_actions(pk, group, now)
                added = sum(block.token_count for block in active)
                queued |= self._transact_watching_threshold(
                    tenant_id, session_hex, actions, added, None if queued else auto
                )
                written.append(group)
        except Exception:
            for group in written:
                self._remove_group(pk, group, now)
            raise
        return queued

    def _transaction_groups(self, blocks: list[Block]) -> list[list[Block]]:
        """Groups that fit one transaction with its session update and a possible automatic compaction job."""
        groups: list[list[Block]] = [[]]
        size = 0
        for block in blocks:
            block_size = len(json.dumps(block.content)) + 512
            if groups[-1] and (
                len(groups[-1]) >= MAX_TRANSACTION_ACTIONS - 2 or size + block_size > MAX_TRANSACTION_BYTES
            ):
                groups.append([])
                size = 0
            groups[-1].append(block)
            size += block_size
        return groups

    def _append_actions(self, pk: str, blocks: list[Block], now: str) -> list[dict[str, Any]]:
        active = [block for block in blocks if not block.compacted]
        session_update = self._metrics_update(
            pk, now, tokens=sum(block.token_count for block in active), count=len(active), add=_id_sets(blocks)
        )
        actions = [session_update] + [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._block_item(pk, block),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for block in blocks
        ]
        return actions

    def _remove_group(self, pk: str, blocks: list[Block], now: str) -> None:
        active = [block for block in blocks if not block.compacted]
        actions = [
            self._metrics_update(
                pk,
                now,
                tokens=-sum(block.token_count for block in active),
                count=-len(active),
                remove=_id_sets(blocks),
                must_exist=False,
            )
        ]
        actions += [
            {"Delete": {"TableName": self.table, "Key": to_item({"pk": pk, "sk": BLOCK_PREFIX + block.order_key})}}
            for block in blocks
        ]
        with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))

    def get_block(self, tenant_id: str, session_hex: str, order_key: str) -> Block | None:
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": BLOCK_PREFIX + order_key}),
            ConsistentRead=True,
        )
        return self._block_from(response["Item"]) if "Item" in response else None

    def list_blocks(
        self,
        tenant_id: str,
        session_hex: str,
        *,
        limit: int,
        after: str | None,
        with_content: bool,
        block_type: BlockType | None = None,
        tag: str | None = None,
        pinned: bool | None = None,
        newest_first: bool = False,
        include_compacted: bool = False,
    ) -> Page[Block]:
        """Blocks in session order that pass the filters: active ones, read from the metadata index when no content
        is wanted; with include_compacted, compacted ones too (from the table itself)."""
        filters: list[str] = []
        values: dict[str, Any] = {}
        names: dict[str, str] = {}
        with_content = with_content or include_compacted
        if with_content and not include_compacted:
            filters.append("attribute_not_exists(compacted) OR compacted = :false")
            values[":false"] = False
        if block_type is not None:
            filters.append("#type = :type")
            values[":type"] = block_type.value
            names["#type"] = "type"
        if tag is not None:
            filters.append("contains(tags, :tag)")
            values[":tag"] = tag
        if pinned is not None:
            filters.append("pinned = :pinned")
            values[":pinned"] = pinned
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": session_pk(tenant_id, session_hex), **values}),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(f"({condition})" for condition in filters)
        if names:
            query["ExpressionAttributeNames"] = names
        if with_content:
            query["KeyConditionExpression"] += " AND begins_with(sk, :blocks)"
            query["ExpressionAttributeValues"][":blocks"] = {"S": BLOCK_PREFIX}
        else:
            query["IndexName"] = BLOCK_META_INDEX
        if after:
            pk = query["ExpressionAttributeValues"][":pk"]
            query["ExclusiveStartKey"] = {"pk": pk, "sk": {"S": after}} | (
                {} if with_content else {"bsk": {"S": after}}
            )
        matched: list[dict[str, Any]] = []
        while len(matched) <= limit:
            query["Limit"] = min(limit + 1 - len(matched), 10_000)
            response = dynamodb_client().query(**query)
            matched.extend(response["Items"])
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        page = matched[:limit]
        next_after = page[-1]["sk"]["S"] if len(matched) > limit else None
        return Page(items=[self._block_from(item) for item in page], next_after=next_after)

    def block_ids(self, tenant_id: str, session_hex: str) -> list[str]:
        """Ids of the session's active blocks in order, from the keys of the sparse metadata index."""
        pages = (
            dynamodb_client()
            .get_paginator("query")
            .paginate(
                TableName=self.table,
                IndexName=BLOCK_META_INDEX,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=to_item({":pk": session_pk(tenant_id, session_hex)}),
                ProjectionExpression="sk",
                ConsistentRead=True,
            )
        )
        prefix = len(BLOCK_PREFIX)
        return [ids.block_id(session_hex, item["sk"]["S"][prefix:]) for page in pages for item in page["Items"]]

    def get_blocks(self, tenant_id: str, session_hex: str, order_keys: list[str]) -> list[Block]:
        """The blocks with these order keys (with content), in session order; missing ones are left out."""
        if not order_keys:
            return []
        pk = session_pk(tenant_id, session_hex)
        keys = [to_item({"pk": pk, "sk": BLOCK_PREFIX + key}) for key in dict.fromkeys(order_keys)]
        blocks = [self._block_from(item) for item in batch_get(self.table, keys)]
        return sorted(blocks, key=lambda block: block.order_key)

    def missing_blocks(self, tenant_id: str, session_hex: str, order_keys: list[str]) -> list[str]:
        """The order keys among these that name no block of the session (a keys-only read)."""
        pk = session_pk(tenant_id, session_hex)
        keys = [to_item({"pk": pk, "sk": BLOCK_PREFIX + key}) for key in dict.fromkeys(order_keys)]
        found = {from_item(item)["sk"][len(BLOCK_PREFIX) :] for item in batch_get(self.table, keys, "sk")}
        return [key for key in order_keys if key not in found]

    def newest_block_meta(self, tenant_id: str, session_hex: str, page_size: int) -> Iterator[Block]:
        """Active blocks without content, newest first, read page by page only as far as the caller iterates."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BLOCK_META_INDEX,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": session_pk(tenant_id, session_hex)}),
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": page_size,
        }
        while True:
            response = dynamodb_client().query(**query)
            yield from (self._block_from(item) for item in response["Items"])
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def record_invocation(
        self,
        tenant_id: str,
        session_hex: str,
        blocks: list[Block],
        invocation: dict[str, Any],
        now: str,
        auto: AutoCompaction | None = None,
    ) -> bool:
        """Save an invocation's blocks and its record, and count it on the session, in one transaction; True when
        the write crossed the session's threshold and queued its automatic compaction job."""
        pk = session_pk(tenant_id, session_hex)
        session_update = self._metrics_update(
            pk,
            now,
            tokens=sum(block.token_count for block in blocks),
            count=len(blocks),
            invocations=1,
            add=_id_sets(blocks),
        )
        actions = [session_update]
        actions += [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._block_item(pk, block),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for block in blocks
        ]
        record = {"pk": pk, "sk": INVOCATION_PREFIX + invocation["orderKey"], "record": json.dumps(invocation)}
        actions.append({"Put": {"TableName": self.table, "Item": to_item(record)}})
        added = sum(block.token_count for block in blocks)
        return self._transact_watching_threshold(tenant_id, session_hex, actions, added, auto)

    def put_record(self, tenant_id: str, session_hex: str, prefix: str, record: dict[str, Any]) -> None:
        """Write one of the session's JSON records (an invocation as it starts, say) by its order key."""
        item = {
            "pk": session_pk(tenant_id, session_hex),
            "sk": prefix + record["orderKey"],
            "record": json.dumps(record),
        }
        dynamodb_client().put_item(TableName=self.table, Item=to_item(item))

    def get_record(self, tenant_id: str, session_hex: str, prefix: str, order_key: str) -> dict[str, Any] | None:
        """One of the session's JSON records: an invocation (`I#`), a compaction job (`C#`) or a message (`M#`)."""
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": prefix + order_key}),
            ConsistentRead=True,
        )
        return load_json(from_item(response["Item"])["record"]) if "Item" in response else None

    def list_records(
        self, tenant_id: str, session_hex: str, prefix: str, limit: int, after: str | None, newest_first: bool = True
    ) -> Page[dict[str, Any]]:
        """The session's JSON records of one kind (`I#`, `C#`, `M#`), in key order or, by default, newest first."""
        pk = session_pk(tenant_id, session_hex)
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": pk, ":prefix": prefix}),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
            "Limit": limit + 1,
        }
        if after:
            query["ExclusiveStartKey"] = to_item({"pk": pk, "sk": after})
        items = dynamodb_client().query(**query)["Items"]
        page = items[:limit]
        next_after = page[-1]["sk"]["S"] if len(items) > limit else None
        return Page([load_json(from_item(item)["record"]) for item in page], next_after)

    def read_all_blocks(self, tenant_id: str, session_hex: str) -> list[Block]:
        return self.list_blocks(tenant_id, session_hex, limit=10**9, after=None, with_content=True).items

    def update_block(self, tenant_id: str, block: Block, now: str) -> None:
        """Save a block's pinned flag, tags and importance, and keep the session's pinned set in step."""
        pk = session_pk(tenant_id, block.session_hex)
        block_update = {
            "Update": {
                "TableName": self.table,
                "Key": to_item({"pk": pk, "sk": BLOCK_PREFIX + block.order_key}),
                "UpdateExpression": "SET pinned = :pinned, tags = :tags, importance = :importance",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": to_item(
                    {":pinned": block.pinned, ":tags": block.tags, ":importance": block.importance}
                ),
            }
        }
        change = {"pinnedBlocks": [block.id]}
        session_update = (
            self._metrics_update(pk, now, add=change) if block.pinned else self._metrics_update(pk, now, remove=change)
        )
        self._transact_on_session([session_update, block_update])

    def delete_block(self, tenant_id: str, block: Block, now: str) -> None:
        pk = session_pk(tenant_id, block.session_hex)
        active = not block.compacted
        actions = [
            self._metrics_update(
                pk,
                now,
                tokens=-block.token_count if active else 0,
                count=-1 if active else 0,
                remove={"pinnedBlocks": [block.id], "summaryBlocks": [block.id]},
            ),
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": to_item({"pk": pk, "sk": BLOCK_PREFIX + block.order_key}),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
        self._transact_on_session(actions)

    # ----- helpers -----

    def _transact_on_session(self, actions: list[dict[str, Any]]) -> None:
        try:
            with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))
        except ClientError as error:
            codes = cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise SessionGone("session not found") from error
            if "ConditionalCheckFailed" in codes:
                raise NotFound("block not found") from error
            raise

    def _transact_watching_threshold(
        self, tenant_id: str, session_hex: str, actions: list[dict[str, Any]], added: int, auto: AutoCompaction | None
    ) -> bool:
        """Like _transact_on_session, but when the write takes the session past its automatic-compaction threshold
        (its `autoHeadroom`, the tokens left below the threshold, kept beside totalTokens, would go below zero) and
        no automatic compaction is pending, it also marks the session and records `auto.job`, in the same
        transaction. Ordinary writes stay one call: the crossing shows up as a failed condition, and only then is
        the write sent again. True when the job was recorded."""
        if auto is None or added <= 0:
            self._transact_on_session(actions)
            return False
        update = actions[0]["Update"]
        update["ConditionExpression"] = (
            "attribute_exists(pk) AND (attribute_exists(autoCompactionJob) OR autoHeadroom >= :autoAdded)"
        )
        update["ExpressionAttributeValues"][":autoAdded"] = {"N": str(added)}
        try:
            self._transact_on_session(actions)
            return False
        except SessionGone:
            if self.get_session(tenant_id, session_hex) is None:
                raise
        del update["ExpressionAttributeValues"][":autoAdded"]
        plain_condition = "attribute_exists(pk)"
        update["ConditionExpression"] = plain_condition + " AND attribute_not_exists(autoCompactionJob)"
        update["UpdateExpression"] = update["UpdateExpression"].replace("SET ", "SET autoCompactionJob = :autoJob, ", 1)
        update["ExpressionAttributeValues"][":autoJob"] = {"S": auto.job["id"]}
        marked = actions + [
            {"Put": {"TableName": self.table, "Item": self._job_item(tenant_id, session_hex, auto.job)}}
        ]
        try:
            self._transact_on_session(marked)
            return True
        except SessionGone:
            pass  # another write marked the session first; write this one plainly
        update["ConditionExpression"] = plain_condition
        update["UpdateExpression"] = update["UpdateExpression"].replace("SET autoCompactionJob = :autoJob, ", "SET ", 1)
        del update["ExpressionAttributeValues"][":autoJob"]
        self._transact_on_session(actions)
        return False

    def _job_item(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        return to_item(
            {"pk": session_pk(tenant_id, session_hex), "sk": JOB_PREFIX + job["orderKey"], "record": json.dumps(job)}
        )

    def _metrics_update(
        self,
        pk: str,
        now: str,
        *,
        tokens: int = 0,
        count: int = 0,
        invocations: int = 0,
        add: dict[str, list[str]] | None = None,
        remove: dict[str, list[str]] | None = None,
        must_exist: bool = True,
    ) -> dict[str, Any]:
        """The session update that goes with every block write: metrics, and the id sets kept on the session
        (`pinnedBlocks`, `summaryBlocks`) so that they are found without reading blocks."""
        additions = [
            "totalTokens :tokens",
            "autoHeadroom :headroom",
            "blockCount :count",
            "invocationCount :invocations",
        ]
        values: dict[str, Any] = {
            ":now": now,
            ":tokens": tokens,
            ":headroom": -tokens,
            ":count": count,
            ":invocations": invocations,
        }
        removals = []
        for index, (attribute, block_ids) in enumerate((add or {}).items()):
            if block_ids:
                additions.append(f"{attribute} :add{index}")
                values[f":add{index}"] = set(block_ids)
        for index, (attribute, block_ids) in enumerate((remove or {}).items()):
            if block_ids:
                removals.append(f"{attribute} :remove{index}")
                values[f":remove{index}"] = set(block_ids)
        expression = "SET updatedAt = :now ADD " + ", ".join(additions)
        if removals:
            expression += " DELETE " + ", ".join(removals)
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item({"pk": pk, "sk": SESSION_SK}),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": to_item(values),
        }
        if must_exist:
            update["ConditionExpression"] = "attribute_exists(pk)"
        return {"Update": update}

    @staticmethod
    def _session_item(session: Session) -> dict[str, Any]:
        return to_item(
            {
                "pk": session_pk(session.tenant_id, session.hex),
                "sk": SESSION_SK,
                "name": session.name,
                "defaultAgent": session.default_agent,
                "tags": session.tags,
                "maxTokens": session.max_tokens,
                "autoHeadroom": session.auto_headroom,
                "totalTokens": session.total_tokens,
                "blockCount": session.block_count,
                "compactionCount": session.compaction_count,
                "invocationCount": session.invocation_count,
                "pinnedBlocks": session.pinned_block_ids or None,
                "summaryBlocks": session.summary_block_ids or None,
                "forkedFrom": session.forked_from,
                "createdAt": session.created_at,
                "updatedAt": session.updated_at,
                **_runtime_attributes(session),
            }
        )

    @staticmethod
    def _session_from(tenant_id: str, item: dict[str, Any]) -> Session:
        values = from_item(item)
        return Session(
            tenant_id=tenant_id,
            hex=values["pk"].rsplit("#", 1)[1],
            name=values["name"],
            default_agent=values.get("defaultAgent"),
            tags=values.get("tags", []),
            max_tokens=values.get("maxTokens", 200_000),
            auto_headroom=values.get("autoHeadroom", 0),
            auto_compaction_pending="autoCompactionJob" in values,
            total_tokens=values.get("totalTokens", 0),
            block_count=values.get("blockCount", 0),
            compaction_count=values.get("compactionCount", 0),
            invocation_count=values.get("invocationCount", 0),
            pinned_block_ids=set(values.get("pinnedBlocks", set())),
            summary_block_ids=set(values.get("summaryBlocks", set())),
            forked_from=values.get("forkedFrom"),
            created_at=values["createdAt"],
            updated_at=values["updatedAt"],
            runtime=_runtime_from(values),
            turns=_turns_from(values),
        )

    @staticmethod
    def _block_item(pk: str, block: Block) -> dict[str, Any]:
        sk = BLOCK_PREFIX + block.order_key
        return to_item(
            {
                "pk": pk,
                "sk": sk,
                "bsk": None if block.compacted else sk,
                "type": block.type.value,
                "content": json.dumps(block.content, ensure_ascii=False),
                "tokenCount": block.token_count,
                "tags": block.tags,
                "pinned": block.pinned,
                "importance": block.importance,
                "compactionLevel": block.compaction_level,
                "compacted": block.compacted or None,
                "compactedBy": block.compacted_by,
                "summaryOf": json.dumps(block.summary_of) if block.summary_of else None,
                "createdAt": block.created_at,
            }
        )

    @staticmethod
    def _block_from(item: dict[str, Any]) -> Block:
        values = from_item(item)
        content = values.get("content")
        return Block(
            session_hex=values["pk"].rsplit("#", 1)[1],
            order_key=values["sk"][len(BLOCK_PREFIX) :],
            type=BlockType(values["type"]),
            content=load_json(content) if content is not None else None,
            token_count=values["tokenCount"],
            tags=values.get("tags", []),
            pinned=values.get("pinned", False),
            importance=values.get("importance", 0.5),
            compaction_level=values.get("compactionLevel", 0),
            compacted=values.get("compacted", False),
            compacted_by=values.get("compactedBy"),
            summary_of=json.loads(values["summaryOf"]) if values.get("summaryOf") else None,
            created_at=values["createdAt"],
        )
