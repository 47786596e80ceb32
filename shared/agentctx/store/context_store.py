"""Sessions and their blocks in the context table.

Keys (every partition key starts with the tenant, so no request can reach another tenant's items):
- session:        pk `T#{tenant}#S#{hex}`, sk `SESSION`; metrics kept on it (with the counts of its pinned blocks
                  and summaries), updated in the same transaction as every block write. It holds no block ids, so
                  its size does not grow with the session.
- block:          same pk, sk `B#{order key}`. Active blocks also carry `bsk` (a copy of sk), the sort key of the
                  sparse local secondary index `BlockMeta`, which projects everything but the content: listings,
                  the session's block ids and selections read only that index, and only active blocks.
                  Active blocks also carry `tpk` (`{pk}#{type}`), the partition key of the global index
                  `BlockType` (sort key `bsk`): a listing by type reads only blocks of that type.
- filter entry:   same pk, sk `X#pin#{order key}` (a pinned block), `X#sum#{order key}` (a summary) and
                  `X#tag#{length}#{tag}#{order key}` (one per tag): written and removed in the same transaction
                  as the block they index, and only while it is active, so a filter Queries its entries and reads
                  only matching blocks. The tag's length keeps tag `a` from matching the entries of tag `a#b`.
- purge marker:   same pk, sk `PURGE`: a deleted session whose items are still being removed in the background.
- invocation:     same pk, sk `I#{order key}`: the record of one invocation on the session (JSON text).
- compaction job: same pk, sk `C#{order key}` (JSON text).
- session lists:  pk `T#{tenant}#SESSIONS` or `T#{tenant}#TAG#{tag}`, sk `{createdAt}#{hex}`: a Query
                  lists a tenant's sessions, or those with a tag, newest first.
"""

import heapq
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any, TypedDict

from botocore.exceptions import ClientError

from agentctx import ids
from agentctx.domain import (
    Block,
    BlockType,
    CapabilityRef,
    ForkCopy,
    ForkFilter,
    Page,
    RuntimeConfig,
    Session,
    SessionStatus,
    TurnState,
    utc_now,
)
from agentctx.errors import NotFound
from agentctx.store.dynamo import (
    BATCH_WRITE_SIZE,
    MAX_TRANSACTION_ACTIONS,
    MAX_TRANSACTION_BYTES,
    batch_get,
    batch_write,
    cancellation_codes,
    chunks,
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
PURGE_SK = "PURGE"
COPY_PREFIX = "COPY#"
MESSAGE_PREFIX = "M#"
# The compaction lock a fork holds while its blocks are copied (compaction waits for the copy).
COPY_LOCK = "copy"
COPY_LOCK_SECONDS = 3_600
ENTRY_PREFIX = "X#"
BLOCK_META_INDEX = "BlockMeta"
BLOCK_TYPE_INDEX = "BlockType"
# The block attributes a listing without content reads (everything the BlockMeta index projects).
META_PROJECTION = (
    "pk, sk, #type, tokenCount, tags, pinned, importance, compactionLevel, compacted, compactedBy, summaryOf, createdAt"
)
# At most this many index entries or block keys are read by one listing request: a filter with few matches
# answers a short page with a cursor rather than reading on.
MAX_SCANNED = 1_000


def session_pk(tenant_id: str, session_hex: str) -> str:
    return f"T#{tenant_id}#S#{session_hex}"


def _listing_pks(tenant_id: str, tags: list[str]) -> list[str]:
    return [f"T#{tenant_id}#SESSIONS"] + [f"T#{tenant_id}#TAG#{tag}" for tag in tags]


def _listing_pk(tenant_id: str, tag: str | None) -> str:
    return f"T#{tenant_id}#TAG#{tag}" if tag else f"T#{tenant_id}#SESSIONS"


def pinned_entries() -> str:
    return ENTRY_PREFIX + "pin#"


def summary_entries() -> str:
    return ENTRY_PREFIX + "sum#"


def tag_entries(tag: str) -> str:
    return f"{ENTRY_PREFIX}tag#{len(tag)}#{tag}#"


def entry_prefixes(block: Block) -> list[str]:
    """The filter entries of an active block: one if pinned, one if a summary, one per tag; none once compacted.
    (Other types are found through the `BlockType` index, which costs a write no transaction action.)"""
    if block.compacted:
        return []
    prefixes = [pinned_entries()] if block.pinned else []
    prefixes += [summary_entries()] if block.type is BlockType.SUMMARY else []
    return prefixes + [tag_entries(tag) for tag in block.tags]


def actions_for_blocks(blocks: list[Block]) -> int:
    """Transaction actions that writing (or removing) these blocks takes: the block and each of its filter entries.
    The one place that counts them, so every caller can keep a transaction within DynamoDB's 100 actions."""
    return sum(1 + len(entry_prefixes(block)) for block in blocks)


class BlockMetrics(TypedDict):
    tokens: int
    count: int
    pinned: int
    summaries: int


def block_metrics(added: list[Block], removed: list[Block] | None = None) -> BlockMetrics:
    """How writing the `added` blocks and taking out the `removed` ones changes the session's metrics (compacted
    blocks count for nothing)."""

    def totals(blocks: list[Block]) -> list[int]:
        active = [block for block in blocks if not block.compacted]
        return [
            sum(block.token_count for block in active),
            len(active),
            sum(1 for block in active if block.pinned),
            sum(1 for block in active if block.type is BlockType.SUMMARY),
        ]

    change = [plus - minus for plus, minus in zip(totals(added), totals(removed or []), strict=True)]
    return BlockMetrics(tokens=change[0], count=change[1], pinned=change[2], summaries=change[3])


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


def _copy_attributes(session: Session) -> dict[str, Any]:
    copy = session.copy
    if copy is None:
        return {}
    return {
        "copySource": copy.source_hex,
        "copyThrough": copy.through,
        "copiedThrough": copy.copied_through,
        "copyFilter": json.dumps(asdict(copy.filter)),
        "compactionJob": COPY_LOCK,
        "compactionLockUntil": int(time.time()) + COPY_LOCK_SECONDS,
    }


def _copy_from(values: dict[str, Any]) -> ForkCopy | None:
    if "copySource" not in values:
        return None
    fork_filter = ForkFilter(**json.loads(values["copyFilter"]))
    return ForkCopy(values["copySource"], values["copyThrough"], values.get("copiedThrough", ""), fork_filter)


@dataclass
class _Source:
    """Where a listing reads its keys: the table itself, the BlockMeta index, the BlockType index (`key` is its
    partition key) or filter entries (`key` is their prefix)."""

    kind: str
    key: str = ""

    def exact(self, block_type: BlockType | None, tag: str | None, pinned: bool | None) -> bool:
        """True when everything this source gives passes the filters, so a page needs no more than it asks for."""
        given = sum(value is not None for value in (block_type, tag, pinned))
        return given == 0 or (given == 1 and self.kind in ("entries", "type"))


@dataclass
class _Segment:
    """A range of a session's order keys, (low, high], read from one session: the session itself, or for a fork
    still being copied, its source (`keeps` is then the fork's filter, and what is read is shown as the fork's)."""

    session_hex: str
    low: str | None = None
    high: str | None = None
    keeps: Callable[[Block], bool] | None = None
    shown_as: str | None = None

    def bounds(self, prefix: str) -> dict[str, str]:
        # Order keys are 26 characters of Crockford base 32: a space sorts before them and a tilde after.
        low = prefix + (self.low + " " if self.low else "")
        return {":low": low, ":high": prefix + (self.high if self.high is not None else "~")}

    def holds(self, order_key: str | None) -> bool:
        return bool(order_key) and (self.low or "") < order_key <= (self.high or "~")  # type: ignore[operator]

    def adopt(self, blocks: list[Block]) -> list[Block]:
        if self.keeps is None or self.shown_as is None:
            return blocks
        return [replace(block, session_hex=self.shown_as) for block in blocks if self.keeps(block)]


def _segments(session_hex: str, copy: ForkCopy | None, newest_first: bool, after: str | None) -> list[_Segment]:
    """The key ranges a listing reads, in its order, from those that hold `after` (or come after it) on."""
    if copy is None:
        return [_Segment(session_hex)]
    segments = [
        _Segment(session_hex, None, copy.copied_through),
        _Segment(copy.source_hex, copy.copied_through, copy.through, copy.filter.keeps, session_hex),
        _Segment(session_hex, copy.through, None),
    ]
    segments = [segment for segment in segments if segment.high is None or (segment.low or "") < segment.high]
    if newest_first:
        segments.reverse()
    if after is None:
        return segments
    if newest_first:
        return [segment for segment in segments if (segment.low or "") < after]
    return [segment for segment in segments if segment.high is None or after < segment.high]


def _records_bound(fork: Session) -> str:
    """The last message key a fork takes from its source: those written up to the fork point."""
    assert fork.copy is not None
    return MESSAGE_PREFIX + fork.copy.through


def _passes(block: Block, block_type: BlockType | None, tag: str | None, pinned: bool | None) -> bool:
    return (
        (block_type is None or block.type is block_type)
        and (tag is None or tag in block.tags)
        and (pinned is None or block.pinned is pinned)
    )


@dataclass
class AutoCompaction:
    """Queue `job` if a write takes the session past its automatic-compaction threshold."""

    job: dict[str, Any]


class BlockMoved(Exception):
    """The block changed (or went) since it was read; read it again."""


class SessionGone(NotFound):
    """The session was deleted (or never existed) when a write to it was attempted."""


class ContextStore:
    def __init__(self, table_name: str, retention_days: int = 0) -> None:
        self.table = table_name
        # Event-log entries, turn items and job records expire after this many days (the table's TTL attribute
        # `expiresAt`); 0 keeps them. Blocks, messages and sessions never expire.
        self.retention_days = retention_days

    def expiry(self) -> dict[str, int]:
        """The TTL attribute for a record that ages out, or nothing when records are kept."""
        if not self.retention_days:
            return {}
        return {"expiresAt": int(time.time()) + self.retention_days * 86_400}

    # ----- sessions -----

    def create_session(
        self, session: Session, blocks: list[Block], other_items: list[dict[str, Any]] | None = None
    ) -> None:
        """Write the blocks (and other items of the partition, such as a fork's messages) first and the session
        last, so a session is never visible without its blocks."""
        pk = session_pk(session.tenant_id, session.hex)
        items = [item for block in blocks for item in [self._block_item(pk, block), *self._entry_items(pk, block)]]
        items += other_items or []
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
        if session.copy:
            actions += self._copy_start_actions(session)
        try:
            dynamodb_client().transact_write_items(TransactItems=actions)
        except ClientError as error:
            if session.copy and cancellation_codes(error)[-1:] == ["ConditionalCheckFailed"]:
                raise SessionGone("session not found") from error
            raise

    def _copy_start_actions(self, fork: Session) -> list[dict[str, Any]]:
        """A fork whose copy starts: a `COPY#{fork}` item in its source's partition, which keeps the source's purge
        from removing blocks the fork still reads, with the source checked to exist (the last action)."""
        assert fork.copy is not None
        source_pk = session_pk(fork.tenant_id, fork.copy.source_hex)
        mark = to_item({"pk": source_pk, "sk": COPY_PREFIX + fork.hex})
        check = {
            "TableName": self.table,
            "Key": to_item({"pk": source_pk, "sk": SESSION_SK}),
            "ConditionExpression": "attribute_exists(pk)",
        }
        return [{"Put": {"TableName": self.table, "Item": mark}}, {"ConditionCheck": check}]

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

    def delete_session(self, session: Session, now: str) -> None:
        """One transaction: the session item goes, so every reader and every conditional writer finds the session
        gone at once; its listings go with it; and a purge marker takes its place, naming the tokens the background
        purge counts out of the tenant's storage when it has removed the session's items."""
        pk = session_pk(session.tenant_id, session.hex)
        listing_sk = f"{session.created_at}#{session.hex}"
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
            {"Delete": {"TableName": self.table, "Key": to_item({"pk": listing, "sk": listing_sk})}}
            for listing in _listing_pks(session.tenant_id, session.tags)
        ]
        self._transact_on_session(actions)

    def purge_pending(self, tenant_id: str, session_hex: str) -> bool:
        """True while a deleted session's items are still being removed."""
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key=to_item({"pk": session_pk(tenant_id, session_hex), "sk": PURGE_SK}),
            ConsistentRead=True,
            ProjectionExpression="pk",
        )
        return "Item" in response

    def purge(self, tenant_id: str, session_hex: str, deadline: float, write_units_per_second: int) -> int | None:
        """Remove a deleted session's items, 25 a call, paced to `write_units_per_second` (one partition takes
        1,000), until none is left or time.monotonic() passes `deadline`. Resumable at any point: it reads what is
        left each time. When nothing but the marker is left, the marker goes too, and the tokens it named are
        returned, once (its delete is conditional); None while items remain, or when there was no purge to do. It
        waits (None) while a fork is still being copied from the session."""
        pk = session_pk(tenant_id, session_hex)
        client = dynamodb_client()
        copies = client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :copies)",
            ExpressionAttributeValues=to_item({":pk": pk, ":copies": COPY_PREFIX}),
            ConsistentRead=True,
            Limit=1,
        )["Items"]
        if copies:
            return None  # a fork still reads this session's blocks; its copy removes the COPY# item when done
        while time.monotonic() < deadline:
            items = client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=to_item({":pk": pk}),
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
                Limit=500,
            )["Items"]
            left = [item for item in items if item["sk"]["S"] not in (PURGE_SK, SESSION_SK)]
            if not left:
                return self._finish_purge(pk) if len(items) == 1 and items[0]["sk"]["S"] == PURGE_SK else None
            for group in chunks(left, BATCH_WRITE_SIZE):
                started = time.monotonic()
                units = batch_write(self.table, [{"DeleteRequest": {"Key": item}} for item in group])
                time.sleep(max(0.0, units / write_units_per_second - (time.monotonic() - started)))
                if time.monotonic() >= deadline:
                    return None
        return None

    def _finish_purge(self, pk: str) -> int | None:
        try:
            response = dynamodb_client().delete_item(
                TableName=self.table,
                Key=to_item({"pk": pk, "sk": PURGE_SK}),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None  # another delivery of the job finished it
            raise
        return int(from_item(response["Attributes"])["totalTokens"])

    # ----- fork copies -----

    def copy_step(
        self,
        tenant_id: str,
        fork_hex: str,
        source_hex: str,
        deadline: float,
        write_units_per_second: int,
        pages: int | None = None,
    ) -> tuple[bool | None, int]:
        """Copy a fork's next blocks from its source, in order, each batch in one transaction that also moves
        `copiedThrough` on from the value read (so two deliveries never copy a block twice) and adds the batch to
        the fork's metrics, paced to `write_units_per_second`, until done or time.monotonic() passes `deadline`.
        The last transaction ends the copy: the fork's copy state and compaction lock go, and so does the source's
        `COPY#` item. At most `pages` pages of 100 source blocks, when given. True when done (or there is nothing
        to copy), False when more is left, None when the fork does not exist yet (its request queues this job
        before it commits); with the tokens copied."""
        fork = self.get_session(tenant_id, fork_hex)
        copied = 0
        if fork is None:
            if not self.purge_pending(tenant_id, fork_hex):
                return None, 0
            self._end_copy_mark(tenant_id, fork_hex, source_hex)  # the fork was deleted while copying
            return True, 0
        records_after = self._records_copied_through(fork) if fork.copy and fork.runtime else None
        while fork.copy is not None:
            if time.monotonic() >= deadline or pages == 0:
                return False, copied
            pages = None if pages is None else pages - 1
            copy = fork.copy
            if records_after is not None:  # a runtime fork's messages first, then its blocks
                try:
                    records_after = self._copy_records_page(fork, records_after, write_units_per_second)
                except SessionGone:
                    fork = self.get_session(tenant_id, fork_hex)  # finished by another delivery, or deleted
                    if fork is None:
                        self._end_copy_mark(tenant_id, fork_hex, source_hex)
                        return True, copied
                    continue
                if records_after is not None:
                    continue
            remaining = _Segment(copy.source_hex, copy.copied_through or None, copy.through)
            found, more = self._source_page(_Source("meta"), remaining, tenant_id, None, 100, False)
            scanned = [block for block in found if isinstance(block, Block)]
            kept = [block.order_key for block in scanned if copy.filter.keeps(block)]
            blocks = [replace(b, session_hex=fork_hex) for b in self.get_blocks(tenant_id, copy.source_hex, kept)]
            groups = self._transaction_groups(blocks, reserved=3)
            batch = groups[0]
            if len(groups) > 1:
                reached: str | None = batch[-1].order_key
            else:
                reached = scanned[-1].order_key if more is not None else None  # None: through the fork point
            started = time.monotonic()
            try:
                self._copy_batch(fork, batch, reached)
            except SessionGone:
                fork = self.get_session(tenant_id, fork_hex)  # moved on by another delivery, or deleted
                if fork is None:
                    self._end_copy_mark(tenant_id, fork_hex, source_hex)
                    return True, copied
                continue
            copied += block_metrics(batch)["tokens"]
            units = 2 * (1 + actions_for_blocks(batch) + sum(len(json.dumps(b.content)) // 1024 for b in batch))
            time.sleep(max(0.0, units / write_units_per_second - (time.monotonic() - started)))
            fork.copy = replace(copy, copied_through=reached) if reached else None
        return True, copied

    def _records_copied_through(self, fork: Session) -> str:
        """Where a runtime fork's copy of its source's messages (`M#` records up to the fork point) goes on: after
        the newest the fork already holds there (its own messages come after the fork point)."""
        assert fork.copy is not None
        newest = dynamodb_client().query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues=to_item(
                {":pk": session_pk(fork.tenant_id, fork.hex), ":low": MESSAGE_PREFIX, ":high": _records_bound(fork)}
            ),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        return newest[0]["sk"]["S"] if newest else MESSAGE_PREFIX

    def _copy_records_page(self, fork: Session, after: str, write_units_per_second: int) -> str | None:
        """Copy the next page of the source's messages up to the fork point into the fork, shown as the fork's, in one
        transaction that checks the fork is still being copied (a deleted fork gets none). The last key copied, or
        None when none are left."""
        assert fork.copy is not None
        pk = session_pk(fork.tenant_id, fork.hex)
        page = dynamodb_client().query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues=to_item(
                {
                    ":pk": session_pk(fork.tenant_id, fork.copy.source_hex),
                    ":low": after + " ",
                    ":high": _records_bound(fork),
                }
            ),
            Limit=MAX_TRANSACTION_ACTIONS - 1,
            ConsistentRead=True,
        )["Items"]
        if not page:
            return None
        started = time.monotonic()
        check = {
            "TableName": self.table,
            "Key": to_item({"pk": pk, "sk": SESSION_SK}),
            "ConditionExpression": "attribute_exists(copySource)",
        }
        actions: list[dict[str, Any]] = [{"ConditionCheck": check}]
        size = units = 0
        for item in page:
            record = json.loads(item["record"]["S"])
            if isinstance(record.get("session_id"), str):
                record["session_id"] = record["session_id"].replace(fork.copy.source_hex, fork.hex)
            text = json.dumps(record)
            if size + len(text) > MAX_TRANSACTION_BYTES // 2 and len(actions) > 1:
                break  # the rest in the next transaction
            size += len(text)
            units += 2 * (1 + len(text) // 1024)
            copied = to_item({"pk": pk, "sk": item["sk"]["S"], "record": text})
            actions.append({"Put": {"TableName": self.table, "Item": copied}})
        self._transact_on_session(actions)
        time.sleep(max(0.0, (units + 1) / write_units_per_second - (time.monotonic() - started)))
        return str(actions[-1]["Put"]["Item"]["sk"]["S"])

    def _copy_batch(self, fork: Session, blocks: list[Block], reached: str | None) -> None:
        """One transaction: the blocks, the fork's metrics, and its copy moved on to `reached` (None: the end)."""
        assert fork.copy is not None
        pk = session_pk(fork.tenant_id, fork.hex)
        update = self._metrics_update(pk, utc_now(), **block_metrics(blocks))
        values = update["Update"]["ExpressionAttributeValues"]
        values[":was"] = {"S": fork.copy.copied_through}
        update["Update"]["ConditionExpression"] = "attribute_exists(pk) AND copiedThrough = :was"
        actions = [update] + [action for block in blocks for action in self.block_put_actions(pk, block)]
        if reached is not None:
            expression = update["Update"]["UpdateExpression"]
            update["Update"]["UpdateExpression"] = expression.replace("SET ", "SET copiedThrough = :reached, ", 1)
            values[":reached"] = {"S": reached}
        else:
            update["Update"]["UpdateExpression"] += (
                " REMOVE copySource, copyThrough, copiedThrough, copyFilter, compactionJob, compactionLockUntil"
            )
            source_pk = session_pk(fork.tenant_id, fork.copy.source_hex)
            mark = to_item({"pk": source_pk, "sk": COPY_PREFIX + fork.hex})
            actions.append({"Delete": {"TableName": self.table, "Key": mark}})
        self._transact_on_session(actions)

    def _end_copy_mark(self, tenant_id: str, fork_hex: str, source_hex: str) -> None:
        mark = to_item({"pk": session_pk(tenant_id, source_hex), "sk": COPY_PREFIX + fork_hex})
        dynamodb_client().delete_item(TableName=self.table, Key=mark)

    # ----- blocks -----

    def append_blocks(
        self, tenant_id: str, session_hex: str, blocks: list[Block], now: str, auto: AutoCompaction | None = None
    ) -> bool:
        """Store the blocks and add them to the session's metrics, in as few transactions as DynamoDB allows.

        A batch that fits one transaction (98 actions, counting each block's filter entries, and 3.5 MB) is atomic.
        A larger one is written in several; if a later one fails, the earlier ones are taken back before the error
        is raised. True when the write crossed the session's threshold and queued its automatic compaction job.
        """
        pk = session_pk(tenant_id, session_hex)
        written: list[list[Block]] = []
        queued = False
        try:
            for group in self._transaction_groups(blocks):
                actions = [self._metrics_update(pk, now, **block_metrics(group))]
                actions += [action for block in group for action in self.block_put_actions(pk, block)]
                added = block_metrics(group)["tokens"]
                queued |= self._transact_watching_threshold(
                    tenant_id, session_hex, actions, added, None if queued else auto
                )
                written.append(group)
        except Exception:
            for group in written:
                self._remove_group(pk, group, now)
            raise
        return queued

    @staticmethod
    def _transaction_groups(blocks: list[Block], reserved: int = 2) -> list[list[Block]]:
        """Consecutive groups that each fit one transaction beside `reserved` other actions (the session update, and
        the automatic-compaction job a crossing write adds)."""
        groups: list[list[Block]] = [[]]
        size = 0
        for block in blocks:
            block_size = len(json.dumps(block.content)) + 512 * actions_for_blocks([block])
            if groups[-1] and (
                actions_for_blocks(groups[-1] + [block]) > MAX_TRANSACTION_ACTIONS - reserved
                or size + block_size > MAX_TRANSACTION_BYTES
            ):
                groups.append([])
                size = 0
            groups[-1].append(block)
            size += block_size
        return groups

    def _remove_group(self, pk: str, blocks: list[Block], now: str) -> None:
        actions = [self._metrics_update(pk, now, **block_metrics([], blocks), must_exist=False)]
        actions += [action for block in blocks for action in self.block_delete_actions(pk, block)]
        with_conflict_retry(lambda: dynamodb_client().transact_write_items(TransactItems=actions))

    def get_block(self, tenant_id: str, session_hex: str, order_key: str) -> Block | None:
        """The block, read in one call with its session's item: a deleted session's blocks, still waiting for their
        purge, are not found; a fork's block that is not copied yet is read from its source (a second call)."""
        pk = session_pk(tenant_id, session_hex)
        keys = [to_item({"pk": pk, "sk": BLOCK_PREFIX + order_key}), to_item({"pk": pk, "sk": SESSION_SK})]
        found = {item["sk"]["S"]: item for item in batch_get(self.table, keys)}
        if SESSION_SK not in found:
            return None
        copy = self._session_from(tenant_id, found[SESSION_SK]).copy
        if copy and copy.from_source(order_key):
            return next(iter(self.get_blocks(tenant_id, session_hex, [order_key], copy)), None)
        block = found.get(BLOCK_PREFIX + order_key)
        return self._block_from(block) if block else None

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
        copy: ForkCopy | None = None,
    ) -> Page[Block]:
        """Blocks in session order that pass the filters: active ones; with include_compacted, compacted ones too.

        A filter reads only its matching blocks: a tag or `pinned` through the filter entries, a type through the
        `BlockType` index (a summary through its entries), and no filter through `BlockMeta`; content, when wanted,
        is then read for the page alone. Other filters given with it are checked on what was read, and one call reads
        at most MAX_SCANNED keys (or `limit`, if more), so a page may come back short with a cursor. A fork still
        being copied (`copy`) reads the part not yet copied from its source, through its filter."""
        position = after[len(BLOCK_PREFIX) :] if after else None
        matched: list[Block] = []
        scanned, most = 0, max(MAX_SCANNED, limit + 1)
        for segment in _segments(session_hex, copy, newest_first, position):
            source = self._listing_source(session_pk(tenant_id, segment.session_hex), block_type, tag, pinned)
            if include_compacted:
                source = _Source("table")
            at = position if segment.holds(position) else None
            while True:
                wanted = limit + 1 - len(matched)
                exact = source.exact(block_type, tag, pinned) and segment.keeps is None
                page_size = min(most - scanned, wanted if exact else 100, 10_000)
                found, at = self._source_page(source, segment, tenant_id, at, page_size, newest_first)
                scanned += len(found)
                if found:
                    position = found[-1] if isinstance(found[-1], str) else found[-1].order_key
                blocks = segment.adopt(self._with_details(tenant_id, segment.session_hex, found, with_content))
                matched += [block for block in blocks if _passes(block, block_type, tag, pinned)]
                if len(matched) > limit:
                    page = matched[:limit]
                    return Page(page, BLOCK_PREFIX + page[-1].order_key)
                if scanned >= most:
                    return Page(matched, BLOCK_PREFIX + position if position else None)
                if at is None:
                    break
        return Page(matched, None)

    @staticmethod
    def _listing_source(pk: str, block_type: BlockType | None, tag: str | None, pinned: bool | None) -> _Source:
        if tag is not None:
            return _Source("entries", tag_entries(tag))
        if pinned:
            return _Source("entries", pinned_entries())
        if block_type is BlockType.SUMMARY:
            return _Source("entries", summary_entries())
        if block_type is not None:
            return _Source("type", f"{pk}#{block_type.value}")
        return _Source("meta")

    def _source_page(
        self,
        source: _Source,
        segment: "_Segment",
        tenant_id: str,
        position: str | None,
        page_size: int,
        newest_first: bool,
        projection: str | None = None,
    ) -> tuple[list[Block | str], str | None]:
        """One Query of a listing source within a segment's key range, from after `position` (an order key):
        blocks (or, from filter entries or with a `projection` of keys, order keys) and the order key to go on
        from, None at the segment's end."""
        pk = session_pk(tenant_id, segment.session_hex)
        prefix = source.key if source.kind == "entries" else BLOCK_PREFIX
        sort_key = "sk" if source.kind in ("table", "entries") else "bsk"
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": f"pk = :pk AND {sort_key} BETWEEN :low AND :high",
            "ExpressionAttributeValues": to_item({":pk": pk} | segment.bounds(prefix)),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
            "Limit": page_size,
        }
        if projection:
            query["ProjectionExpression"] = projection
        start = to_item({"pk": pk, "sk": prefix + position}) if position else None
        if source.kind == "meta":
            query["IndexName"] = BLOCK_META_INDEX
            if start:
                start["bsk"] = start["sk"]
        elif source.kind == "type":
            query |= {"IndexName": BLOCK_TYPE_INDEX, "ConsistentRead": False}
            query["KeyConditionExpression"] = "tpk = :tpk AND bsk BETWEEN :low AND :high"
            query["ExpressionAttributeValues"] = to_item({":tpk": source.key} | segment.bounds(prefix))
            if start:
                start |= {"bsk": start["sk"], "tpk": {"S": source.key}}
        elif source.kind == "entries":
            query["ProjectionExpression"] = "sk"
        if start:
            query["ExclusiveStartKey"] = start
        response = dynamodb_client().query(**query)
        found: list[Block | str]
        if source.kind == "entries" or projection:
            found = [item["sk"]["S"][len(prefix) :] for item in response["Items"]]
        else:
            found = [self._block_from(item) for item in response["Items"]]
        last = response.get("LastEvaluatedKey")
        return found, last["sk"]["S"][len(prefix) :] if last else None

    def _with_details(
        self, tenant_id: str, session_hex: str, found: list[Block | str], with_content: bool
    ) -> list[Block]:
        """The blocks of a listing page, in the page's order: what the source gave, with the block items read (with
        or without content) for those it gave only as keys or without the content wanted."""
        missing = [
            item if isinstance(item, str) else item.order_key
            for item in found
            if isinstance(item, str) or (with_content and item.content is None)
        ]
        read = {block.order_key: block for block in self._read_blocks(tenant_id, session_hex, missing, with_content)}
        blocks = [read.get(item) if isinstance(item, str) else read.get(item.order_key, item) for item in found]
        return [block for block in blocks if block is not None]

    def _read_blocks(self, tenant_id: str, session_hex: str, order_keys: list[str], with_content: bool) -> list[Block]:
        if not order_keys:
            return []
        pk = session_pk(tenant_id, session_hex)
        keys = [to_item({"pk": pk, "sk": BLOCK_PREFIX + key}) for key in dict.fromkeys(order_keys)]
        options: dict[str, Any] = {}
        if not with_content:
            options = {"ProjectionExpression": META_PROJECTION, "ExpressionAttributeNames": {"#type": "type"}}
        return [self._block_from(item) for item in batch_get(self.table, keys, **options)]

    def missing_blocks(
        self, tenant_id: str, session_hex: str, order_keys: list[str], copy: ForkCopy | None = None
    ) -> list[str]:
        """The order keys among these that name no block of the session (for a fork still being copied, none it
        reads through its source either)."""
        if copy is None:
            pk = session_pk(tenant_id, session_hex)
            keys = [to_item({"pk": pk, "sk": BLOCK_PREFIX + key}) for key in dict.fromkeys(order_keys)]
            items = batch_get(self.table, keys, ProjectionExpression="sk")
            found = {from_item(item)["sk"][len(BLOCK_PREFIX) :] for item in items}
        else:
            found = {block.order_key for block in self._read_through(tenant_id, session_hex, order_keys, False, copy)}
        return [key for key in order_keys if key not in found]

    def first_block_ids(
        self, tenant_id: str, session_hex: str, limit: int, pinned: bool = False, copy: ForkCopy | None = None
    ) -> Page[str]:
        """Ids of the session's first `limit` active blocks (or pinned ones) in order: one Query of the keys of the
        metadata index (or of the pinned entries), whatever the session's size; for a fork still being copied, a
        listing through its source, which reads at most MAX_SCANNED keys."""
        if copy is not None:
            page = self.list_blocks(
                tenant_id, session_hex, limit=limit, after=None, with_content=False, pinned=pinned or None, copy=copy
            )
            return Page([block.id for block in page.items], page.next_after)
        source = _Source("entries", pinned_entries()) if pinned else _Source("meta")
        whole = _Segment(session_hex)
        found, _ = self._source_page(source, whole, tenant_id, None, limit + 1, False, projection="pk, sk")
        keys = [item if isinstance(item, str) else item.order_key for item in found]
        next_after = BLOCK_PREFIX + keys[limit - 1] if len(keys) > limit else None
        return Page([ids.block_id(session_hex, key) for key in keys[:limit]], next_after)

    def newest_indexed(
        self, tenant_id: str, session_hex: str, prefixes: list[str], page_size: int, copy: ForkCopy | None = None
    ) -> Iterator[Block]:
        """Active blocks without content, newest first, that have an entry under any of these prefixes (pinned,
        summaries, tags): each prefix's entries are read page by page and merged, and the blocks' metadata read a
        page at a time, only as far as the caller iterates."""

        def keys_of(prefix: str) -> Iterator[str]:
            for segment in _segments(session_hex, copy, True, None):
                position: str | None = None
                while True:
                    found, position = self._source_page(
                        _Source("entries", prefix), segment, tenant_id, position, page_size, True
                    )
                    yield from (key for key in found if isinstance(key, str))
                    if position is None:
                        break

        merged = heapq.merge(*(keys_of(prefix) for prefix in prefixes), reverse=True)
        unique = (key for key, _ in itertools.groupby(merged))
        while page := list(itertools.islice(unique, page_size)):
            read = {block.order_key: block for block in self._read_through(tenant_id, session_hex, page, False, copy)}
            yield from (read[key] for key in page if key in read)

    def get_blocks(
        self, tenant_id: str, session_hex: str, order_keys: list[str], copy: ForkCopy | None = None
    ) -> list[Block]:
        """The blocks with these order keys (with content), in session order; missing ones are left out."""
        return sorted(self._read_through(tenant_id, session_hex, order_keys, True, copy), key=lambda b: b.order_key)

    def _read_through(
        self, tenant_id: str, session_hex: str, order_keys: list[str], with_content: bool, copy: ForkCopy | None
    ) -> list[Block]:
        """Blocks by order key: a fork's own, and those it still reads from its source, through its filter."""
        if copy is None:
            return self._read_blocks(tenant_id, session_hex, order_keys, with_content)
        inherited = _Segment(copy.source_hex, copy.copied_through, copy.through, copy.filter.keeps, session_hex)
        own = [key for key in order_keys if not copy.from_source(key)]
        borrowed = [key for key in order_keys if copy.from_source(key)]
        blocks = self._read_blocks(tenant_id, session_hex, own, with_content)
        return blocks + inherited.adopt(self._read_blocks(tenant_id, copy.source_hex, borrowed, with_content))

    def newest_block_meta(
        self, tenant_id: str, session_hex: str, page_size: int, copy: ForkCopy | None = None
    ) -> Iterator[Block]:
        """Active blocks without content, newest first, read page by page only as far as the caller iterates."""
        for segment in _segments(session_hex, copy, True, None):
            position: str | None = None
            while True:
                found, position = self._source_page(_Source("meta"), segment, tenant_id, position, page_size, True)
                yield from segment.adopt([block for block in found if isinstance(block, Block)])
                if position is None:
                    break

    def record_invocation(
        self,
        tenant_id: str,
        session_hex: str,
        blocks: list[Block],
        invocation: dict[str, Any],
        now: str,
        auto: AutoCompaction | None = None,
    ) -> bool:
        """Save an invocation's blocks and its record, and count it on the session, in one transaction when they
        fit (with their filter entries: tagged blocks take more actions); else the blocks that do not fit the last
        transaction go first, and are taken back if a later one fails. True when the write crossed the session's
        threshold and queued its automatic compaction job."""
        pk = session_pk(tenant_id, session_hex)
        *earlier, last = self._transaction_groups(blocks, reserved=3) if blocks else [[]]
        written: list[list[Block]] = []
        try:
            for group in earlier:
                actions = [self._metrics_update(pk, now, **block_metrics(group))]
                self._transact_on_session(actions + [a for block in group for a in self.block_put_actions(pk, block)])
                written.append(group)
            actions = [self._metrics_update(pk, now, invocations=1, **block_metrics(last))]
            actions += [action for block in last for action in self.block_put_actions(pk, block)]
            record = {"pk": pk, "sk": INVOCATION_PREFIX + invocation["orderKey"], "record": json.dumps(invocation)}
            actions.append({"Put": {"TableName": self.table, "Item": to_item(record)}})
            added = block_metrics(last)["tokens"]
            return self._transact_watching_threshold(tenant_id, session_hex, actions, added, auto)
        except Exception:
            for group in written:
                self._remove_group(pk, group, now)
            raise

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
        self,
        tenant_id: str,
        session_hex: str,
        prefix: str,
        limit: int,
        after: str | None,
        newest_first: bool = True,
        through: str | None = None,
    ) -> Page[dict[str, Any]]:
        """The session's JSON records of one kind (`I#`, `C#`, `M#`), in key order or, by default, newest first;
        those up to order key `through`, when given."""
        pk = session_pk(tenant_id, session_hex)
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": pk, ":prefix": prefix}),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
            "Limit": limit + 1,
        }
        if through is not None:
            query["KeyConditionExpression"] = "pk = :pk AND sk BETWEEN :prefix AND :through"
            query["ExpressionAttributeValues"][":through"] = {"S": prefix + through}
        if after:
            query["ExclusiveStartKey"] = to_item({"pk": pk, "sk": after})
        items = dynamodb_client().query(**query)["Items"]
        page = items[:limit]
        next_after = page[-1]["sk"]["S"] if len(items) > limit else None
        return Page([load_json(from_item(item)["record"]) for item in page], next_after)

    def read_all_blocks(self, tenant_id: str, session_hex: str) -> list[Block]:
        return self.list_blocks(tenant_id, session_hex, limit=10**9, after=None, with_content=True).items

    def update_block(self, tenant_id: str, before: Block, after: Block, now: str) -> None:
        """Save a block's pinned flag, tags and importance as read in `before`; its filter entries and the session's
        pinned count follow in the same transaction. BlockMoved when the block changed since it was read.

        A change of more entries than one transaction holds (50 tags swapped for 50 others) is made in two steps,
        each consistent: first the tags dropped, then those added; a retry of the request finishes it."""
        steps = [(before, after)]
        if len(self._entry_changes("", before, after)) + 2 > MAX_TRANSACTION_ACTIONS:
            middle = replace(after, tags=[tag for tag in before.tags if tag in after.tags])
            steps = [(before, middle), (middle, after)]
        for old, new in steps:
            pk = session_pk(tenant_id, old.session_hex)
            block_update = {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": pk, "sk": BLOCK_PREFIX + old.order_key}),
                    "UpdateExpression": "SET pinned = :pinned, tags = :tags, importance = :importance",
                    "ConditionExpression": self._unchanged_condition(old),
                    "ExpressionAttributeValues": to_item(
                        {":pinned": new.pinned, ":tags": new.tags, ":importance": new.importance}
                        | self._unchanged_values(old)
                    ),
                }
            }
            pinned = 0 if old.compacted else int(new.pinned) - int(old.pinned)
            actions = [self._metrics_update(pk, now, pinned=pinned), block_update] + self._entry_changes(pk, old, new)
            self._transact_on_block(actions)

    def _entry_changes(self, pk: str, before: Block, after: Block) -> list[dict[str, Any]]:
        old, new = entry_prefixes(before), entry_prefixes(after)
        puts = [
            {"Put": {"TableName": self.table, "Item": item}}
            for item in self._entry_items(pk, after, [prefix for prefix in new if prefix not in old])
        ]
        return self._entry_delete_actions(pk, before, [prefix for prefix in old if prefix not in new]) + puts

    def delete_block(self, tenant_id: str, block: Block, now: str) -> None:
        """Remove a block as read, with its filter entries, and take it off the session's metrics; BlockMoved when it
        changed since it was read."""
        pk = session_pk(tenant_id, block.session_hex)
        delete = self.block_delete_actions(pk, block)
        delete[0]["Delete"] |= {
            "ConditionExpression": self._unchanged_condition(block),
            "ExpressionAttributeValues": to_item(self._unchanged_values(block)),
        }
        self._transact_on_block([self._metrics_update(pk, now, **block_metrics([], [block]))] + delete)

    @staticmethod
    def _unchanged_condition(block: Block) -> str:
        active = "attribute_not_exists(bsk)" if block.compacted else "attribute_exists(bsk)"
        return f"attribute_exists(pk) AND {active} AND pinned = :wasPinned AND tags = :wasTags"

    @staticmethod
    def _unchanged_values(block: Block) -> dict[str, Any]:
        return {":wasPinned": block.pinned, ":wasTags": block.tags}

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

    def _transact_on_block(self, actions: list[dict[str, Any]]) -> None:
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
            {
                "pk": session_pk(tenant_id, session_hex),
                "sk": JOB_PREFIX + job["orderKey"],
                "record": json.dumps(job),
                **self.expiry(),
            }
        )

    def _metrics_update(
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
                "pinnedCount": session.pinned_count,
                "summaryCount": session.summary_count,
                "forkedFrom": session.forked_from,
                **_copy_attributes(session),
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
            pinned_count=values.get("pinnedCount", 0),
            summary_count=values.get("summaryCount", 0),
            forked_from=values.get("forkedFrom"),
            copy=_copy_from(values),
            created_at=values["createdAt"],
            updated_at=values["updatedAt"],
            runtime=_runtime_from(values),
            turns=_turns_from(values),
        )

    @staticmethod
    def _entry_items(pk: str, block: Block, prefixes: list[str] | None = None) -> list[dict[str, Any]]:
        prefixes = entry_prefixes(block) if prefixes is None else prefixes
        return [to_item({"pk": pk, "sk": prefix + block.order_key}) for prefix in prefixes]

    def block_put_actions(self, pk: str, block: Block) -> list[dict[str, Any]]:
        """Store a new block and its filter entries (see actions_for_blocks)."""
        put = {
            "Put": {
                "TableName": self.table,
                "Item": self._block_item(pk, block),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        return [put] + [{"Put": {"TableName": self.table, "Item": item}} for item in self._entry_items(pk, block)]

    def block_delete_actions(self, pk: str, block: Block) -> list[dict[str, Any]]:
        """Remove a block and its filter entries."""
        delete = {"Delete": {"TableName": self.table, "Key": to_item({"pk": pk, "sk": BLOCK_PREFIX + block.order_key})}}
        return [delete] + self._entry_delete_actions(pk, block, entry_prefixes(block))

    def block_deactivate_actions(self, pk: str, block: Block, summary_id: str) -> list[dict[str, Any]]:
        """Take a block out of the active context (a summary now covers it): flagged, out of the block index, and
        its filter entries removed. Only a block still active may be covered."""
        update = {
            "Update": {
                "TableName": self.table,
                "Key": to_item({"pk": pk, "sk": BLOCK_PREFIX + block.order_key}),
                "UpdateExpression": "SET compacted = :true, compactedBy = :summary REMOVE bsk",
                "ConditionExpression": "attribute_exists(bsk)",
                "ExpressionAttributeValues": to_item({":true": True, ":summary": summary_id}),
            }
        }
        return [update] + self._entry_delete_actions(pk, block, entry_prefixes(replace(block, compacted=False)))

    def _entry_delete_actions(self, pk: str, block: Block, prefixes: list[str]) -> list[dict[str, Any]]:
        return [
            {"Delete": {"TableName": self.table, "Key": to_item({"pk": pk, "sk": prefix + block.order_key})}}
            for prefix in prefixes
        ]

    @staticmethod
    def _block_item(pk: str, block: Block) -> dict[str, Any]:
        sk = BLOCK_PREFIX + block.order_key
        return to_item(
            {
                "pk": pk,
                "sk": sk,
                "bsk": None if block.compacted else sk,
                "tpk": None if block.compacted else f"{pk}#{block.type.value}",
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
