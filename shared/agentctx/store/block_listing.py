"""Reading a session's blocks: by id, by order keys, listed in session order through filters, their first ids, and
the newest ones page by page. Every read of a fork still being copied goes through its segments (block_segments),
so the fork reads as whole from its first moment."""

import heapq
import itertools
from collections.abc import Iterator
from typing import Any

from agentctx import ids
from agentctx.domain import Block, BlockType, ForkCopy, Page
from agentctx.payload import json_payload_bytes, within_budget
from agentctx.store.block_segments import Segment, Source, inherited, listing_source, passes, segments
from agentctx.store.dynamo import batch_get, dynamodb_client, from_item, to_item
from agentctx.store.items import META_PROJECTION, block_from, session_from
from agentctx.store.keys import (
    BLOCK_META_INDEX,
    BLOCK_SK_PREFIX,
    BLOCK_TYPE_INDEX,
    PINNED_ENTRY_SK_PREFIX,
    SESSION_SK,
    SUMMARY_ENTRY_SK_PREFIX,
    block_sk,
    session_pk,
    tag_entry_sk_prefix,
)

# At most this many index entries or block keys are read by one listing request: a filter with few matches
# answers a short page with a cursor rather than reading on.
MAX_SCANNED = 1_000
# A listing with content and a byte budget reads the contents of this many blocks first (25 of the largest are about
# 6.5 MB), then as many as the budget left would hold at the largest size read so far (content_reads).
CONTENT_PAGE = 25
# BatchGetItem's most keys in one call.
MOST_KEYS = 100
# What an item of a listing carries beside its content, tags and summary (id, session id, type, metadata, dates).
BLOCK_ALLOWANCE = 400


def block_bytes(block: Block) -> int:
    """About the bytes a block takes in a listing's answer, as Lambda carries it."""
    return json_payload_bytes([block.content, block.tags, block.summary_of]) + BLOCK_ALLOWANCE


def content_reads(found: list[Block | str], sizes: list[int], budget: int | None) -> Iterator[list[Block | str]]:
    """The parts in which a page's contents are read: all at once without a budget; with one, CONTENT_PAGE blocks,
    then, once `sizes` (which the caller extends after each part) shows how large they are, as many as the budget
    left would hold at the largest size so far (1 to MOST_KEYS). A page of small blocks takes a call per 100; one of
    large blocks reads little past the block that ends it (at most MOST_KEYS blocks more, after blocks that were
    small)."""
    start = 0
    while start < len(found):
        if budget is None:
            size = len(found)
        elif not sizes:
            size = CONTENT_PAGE
        else:
            size = max(1, min(MOST_KEYS, (budget - sum(sizes)) // max(sizes)))
        yield found[start : start + size]
        start += size


class BlockListing:
    def __init__(self, table: str) -> None:
        self.table = table

    def get(self, tenant_id: str, session_hex: str, order_key: str) -> Block | None:
        """The block, read in one call with its session's item: a deleted session's blocks, still waiting for their
        purge, are not found; a fork's block that is not copied yet is read from its source (a second call)."""
        pk = session_pk(tenant_id, session_hex)
        keys = [to_item({"pk": pk, "sk": block_sk(order_key)}), to_item({"pk": pk, "sk": SESSION_SK})]
        found = {item["sk"]["S"]: item for item in batch_get(self.table, keys)}
        if SESSION_SK not in found:
            return None
        copy = session_from(tenant_id, found[SESSION_SK]).copy
        if copy and copy.from_source(order_key):
            return next(iter(self.get_many(tenant_id, session_hex, [order_key], copy)), None)
        block = found.get(block_sk(order_key))
        return block_from(block) if block else None

    def get_many(
        self, tenant_id: str, session_hex: str, order_keys: list[str], copy: ForkCopy | None = None
    ) -> list[Block]:
        """The blocks with these order keys (with content), in session order; missing ones are left out."""
        return sorted(self._read_through(tenant_id, session_hex, order_keys, True, copy), key=lambda b: b.order_key)

    def get_across(self, tenant_id: str, refs: list[tuple[str, str]]) -> list[Block]:
        """Blocks of several of the tenant's sessions by (session hex, order key), with content, in one
        BatchGetItem per 100: the blocks search shows. A fork's blocks not copied yet are not read through."""
        keys = [to_item({"pk": session_pk(tenant_id, hex_), "sk": block_sk(key)}) for hex_, key in dict.fromkeys(refs)]
        return [block_from(item) for item in batch_get(self.table, keys)] if keys else []

    def list_page(
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
        max_bytes: int | None = None,
    ) -> Page[Block]:
        """Blocks in session order that pass the filters: active ones; with include_compacted, compacted ones too.

        A filter reads only its matching blocks: a tag or `pinned` through the filter entries, a type through the
        `BlockType` index (a summary through its entries), and no filter through `BlockMeta`; content, when wanted,
        is then read for the page alone. Other filters given with it are checked on what was read, and one call reads
        at most MAX_SCANNED keys (or `limit`, if more), so a page may come back short with a cursor. A fork still
        being copied (`copy`) reads the part not yet copied from its source, through its filter. With content and
        `max_bytes`, the page ends before the block that would take its blocks past that many bytes (the first block
        is always kept), contents read in the parts `content_reads` gives."""
        position = after[len(BLOCK_SK_PREFIX) :] if after else None
        matched: list[Block] = []
        budget = max_bytes if with_content else None
        sizes: list[int] = []
        scanned, most = 0, max(MAX_SCANNED, limit + 1)
        for segment in segments(session_hex, copy, newest_first, position):
            source = listing_source(session_pk(tenant_id, segment.session_hex), block_type, tag, pinned)
            if include_compacted:
                source = Source("table")
            elif source.kind == "meta" and segment.marked:
                source = segment.marked
            at = position if segment.holds(position) else None
            while True:
                wanted = limit + 1 - len(matched)
                exact = source.exact(block_type, tag, pinned) and segment.keeps is None
                page_size = min(most - scanned, wanted if exact else 100, 10_000)
                found, at = self.source_page(source, segment, tenant_id, at, page_size, newest_first)
                scanned += len(found)
                if found:
                    position = found[-1] if isinstance(found[-1], str) else found[-1].order_key
                for part in content_reads(found, sizes, budget):
                    blocks = segment.adopt(self._with_details(tenant_id, segment.session_hex, part, with_content))
                    matched += [block for block in blocks if passes(block, block_type, tag, pinned)]
                    if budget is not None:
                        sizes += [block_bytes(block) for block in matched[len(sizes) : limit]]
                        kept = within_budget(sizes, budget)
                        if kept < len(sizes):
                            last = matched[kept - 1].order_key
                            return Page(matched[:kept], block_sk(last), truncated_by_bytes=True)
                if len(matched) > limit:
                    page = matched[:limit]
                    return Page(page, block_sk(page[-1].order_key))
                if scanned >= most:
                    return Page(matched, block_sk(position) if position else None)
                if at is None:
                    break
        return Page(matched, None)

    def missing(
        self, tenant_id: str, session_hex: str, order_keys: list[str], copy: ForkCopy | None = None
    ) -> list[str]:
        """The order keys among these that name no block of the session (for a fork still being copied, none it
        reads through its source either)."""
        if copy is None:
            pk = session_pk(tenant_id, session_hex)
            keys = [to_item({"pk": pk, "sk": block_sk(key)}) for key in dict.fromkeys(order_keys)]
            items = batch_get(self.table, keys, ProjectionExpression="sk")
            found = {from_item(item)["sk"][len(BLOCK_SK_PREFIX) :] for item in items}
        else:
            found = {block.order_key for block in self._read_through(tenant_id, session_hex, order_keys, False, copy)}
        return [key for key in order_keys if key not in found]

    def first_ids(
        self, tenant_id: str, session_hex: str, limit: int, pinned: bool = False, copy: ForkCopy | None = None
    ) -> Page[str]:
        """Ids of the session's first `limit` active blocks (or pinned ones) in order: one Query of the keys of the
        metadata index (or of the pinned entries), whatever the session's size; for a fork still being copied, a
        listing through its source, which reads at most MAX_SCANNED keys."""
        if copy is not None:
            page = self.list_page(
                tenant_id, session_hex, limit=limit, after=None, with_content=False, pinned=pinned or None, copy=copy
            )
            return Page([block.id for block in page.items], page.next_after)
        source = Source("entries", PINNED_ENTRY_SK_PREFIX) if pinned else Source("meta")
        whole = Segment(session_hex)
        found, _ = self.source_page(source, whole, tenant_id, None, limit + 1, False, projection="pk, sk")
        keys = [item if isinstance(item, str) else item.order_key for item in found]
        next_after = block_sk(keys[limit - 1]) if len(keys) > limit else None
        return Page([ids.block_id(session_hex, key) for key in keys[:limit]], next_after)

    def newest(self, tenant_id: str, session_hex: str, page_size: int, copy: ForkCopy | None = None) -> Iterator[Block]:
        """Active blocks without content, newest first, read page by page only as far as the caller iterates."""
        for segment in segments(session_hex, copy, True, None):
            position: str | None = None
            while True:
                found, position = self.source_page(Source("meta"), segment, tenant_id, position, page_size, True)
                yield from segment.adopt([block for block in found if isinstance(block, Block)])
                if position is None:
                    break

    def newest_marked(
        self,
        tenant_id: str,
        session_hex: str,
        page_size: int,
        *,
        pinned: bool = False,
        summaries: bool = False,
        tags: list[str] | None = None,
        copy: ForkCopy | None = None,
    ) -> Iterator[Block]:
        """Active blocks without content, newest first, that are summaries, pinned (when asked) or carry one of
        `tags`: each kind's filter entries are read page by page and merged, and the blocks' metadata read a page at
        a time, only as far as the caller iterates."""
        prefixes = [SUMMARY_ENTRY_SK_PREFIX] if summaries else []
        prefixes += [PINNED_ENTRY_SK_PREFIX] if pinned else []
        prefixes += [tag_entry_sk_prefix(tag) for tag in tags or []]

        def keys_of(prefix: str) -> Iterator[str]:
            for segment in segments(session_hex, copy, True, None):
                position: str | None = None
                while True:
                    found, position = self.source_page(
                        Source("entries", prefix), segment, tenant_id, position, page_size, True
                    )
                    yield from (key for key in found if isinstance(key, str))
                    if position is None:
                        break

        merged = heapq.merge(*(keys_of(prefix) for prefix in prefixes), reverse=True)
        unique = (key for key, _ in itertools.groupby(merged))
        while page := list(itertools.islice(unique, page_size)):
            read = {block.order_key: block for block in self._read_through(tenant_id, session_hex, page, False, copy)}
            yield from (read[key] for key in page if key in read)

    def source_page(
        self,
        source: Source,
        segment: Segment,
        tenant_id: str,
        position: str | None,
        page_size: int,
        newest_first: bool,
        projection: str | None = None,
    ) -> tuple[list[Block | str], str | None]:
        """One Query of a listing source within a segment's key range, from after `position` (an order key):
        blocks (or, from filter entries or with a `projection` of keys, order keys) and the order key to go on
        from, None at the segment's end. Merged filter entries take a Query per prefix."""
        if source.kind == "marked":
            return self._marked_page(source, segment, tenant_id, position, page_size, newest_first)
        pk = session_pk(tenant_id, segment.session_hex)
        prefix = source.key if source.kind == "entries" else BLOCK_SK_PREFIX
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
            found = [block_from(item) for item in response["Items"]]
        last = response.get("LastEvaluatedKey")
        return found, last["sk"]["S"][len(prefix) :] if last else None

    def _marked_page(
        self, source: Source, segment: Segment, tenant_id: str, position: str | None, page_size: int, newest_first: bool
    ) -> tuple[list[Block | str], str | None]:
        """The next order keys any of the prefixes holds, in order, each once: a page of each, merged, up to the
        first key where a prefix that has more stopped (what lies beyond it there is not read yet)."""
        pages = [
            self.source_page(Source("entries", prefix), segment, tenant_id, position, page_size, newest_first)
            for prefix in source.prefixes
        ]
        merged = sorted({key for found, _ in pages for key in found if isinstance(key, str)}, reverse=newest_first)
        stops = [found[-1] for found, more in pages if more is not None and isinstance(found[-1], str)]
        if stops:
            stop = max(stops) if newest_first else min(stops)
            merged = [key for key in merged if (key >= stop if newest_first else key <= stop)]
        more = bool(stops) or len(merged) > page_size
        keys: list[Block | str] = list(merged[:page_size])
        return keys, (str(keys[-1]) if more and keys else None)

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
        keys = [to_item({"pk": pk, "sk": block_sk(key)}) for key in dict.fromkeys(order_keys)]
        options: dict[str, Any] = {}
        if not with_content:
            options = {"ProjectionExpression": META_PROJECTION, "ExpressionAttributeNames": {"#type": "type"}}
        return [block_from(item) for item in batch_get(self.table, keys, **options)]

    def _read_through(
        self, tenant_id: str, session_hex: str, order_keys: list[str], with_content: bool, copy: ForkCopy | None
    ) -> list[Block]:
        """Blocks by order key: a fork's own, and those it still reads from its source, through its filter."""
        if copy is None:
            return self._read_blocks(tenant_id, session_hex, order_keys, with_content)
        own = [key for key in order_keys if not copy.from_source(key)]
        borrowed = [key for key in order_keys if copy.from_source(key)]
        blocks = self._read_blocks(tenant_id, session_hex, own, with_content)
        return blocks + inherited(session_hex, copy).adopt(
            self._read_blocks(tenant_id, copy.source_hex, borrowed, with_content)
        )
