"""Where a block listing reads: its source (the table, an index or filter entries) and its segments, the key ranges
of one session it reads in order. A fork still being copied reads three: its own blocks up to `copiedThrough`, its
source's after that up to the fork point through the fork's filter (shown as the fork's), and its own after it."""

from collections.abc import Callable
from dataclasses import dataclass, replace

from agentctx.domain import Block, BlockType, ForkCopy, ForkFilter
from agentctx.store.keys import (
    PINNED_ENTRY_SK_PREFIX,
    SUMMARY_ENTRY_SK_PREFIX,
    block_type_pk,
    tag_entry_sk_prefix,
)


@dataclass
class Source:
    """Where a listing reads its keys: the table itself, the BlockMeta index, the BlockType index (`key` is its
    partition key), filter entries (`key` is their prefix), or the merged filter entries of several prefixes
    (`marked`, `prefixes`)."""

    kind: str
    key: str = ""
    prefixes: tuple[str, ...] = ()

    def exact(self, block_type: BlockType | None, tag: str | None, pinned: bool | None) -> bool:
        """True when everything this source gives passes the filters, so a page needs no more than it asks for."""
        given = sum(value is not None for value in (block_type, tag, pinned))
        return given == 0 or (given == 1 and self.kind in ("entries", "type"))


def listing_source(pk: str, block_type: BlockType | None, tag: str | None, pinned: bool | None) -> Source:
    """The source that reads the fewest blocks for these filters, in partition `pk`."""
    if tag is not None:
        return Source("entries", tag_entry_sk_prefix(tag))
    if pinned:
        return Source("entries", PINNED_ENTRY_SK_PREFIX)
    if block_type is BlockType.SUMMARY:
        return Source("entries", SUMMARY_ENTRY_SK_PREFIX)
    if block_type is not None:
        return Source("type", block_type_pk(pk, block_type.value))
    return Source("meta")


@dataclass
class Segment:
    """A range of a session's order keys, (low, high], read from one session: the session itself, or for a fork
    still being copied, its source (`keeps` is then the fork's filter, and what is read is shown as the fork's)."""

    session_hex: str
    low: str | None = None
    high: str | None = None
    keeps: Callable[[Block], bool] | None = None
    shown_as: str | None = None
    marked: Source | None = None  # the filter entries that hold every block `keeps` keeps, when some do

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


def inherited(fork_hex: str, copy: ForkCopy) -> Segment:
    """The part of a fork still read from its source: after what is copied, up to the fork point."""
    return Segment(copy.source_hex, copy.copied_through, copy.through, copy.filter.keeps, fork_hex, marked(copy.filter))


def marked(fork_filter: ForkFilter) -> Source | None:
    """The filter entries that hold every block a fork filter with `includeByTag` keeps (its tags', and the pinned
    blocks' and summaries' when it keeps those whatever their tags), so reading through it reads only candidates;
    None for a filter that keeps every block but some (no `includeByTag`)."""
    if fork_filter.include_by_tag is None:
        return None
    prefixes = [tag_entry_sk_prefix(tag) for tag in fork_filter.include_by_tag]
    prefixes += [PINNED_ENTRY_SK_PREFIX] if fork_filter.include_pinned else []
    prefixes += [SUMMARY_ENTRY_SK_PREFIX] if fork_filter.include_summaries else []
    return Source("marked", prefixes=tuple(dict.fromkeys(prefixes)))


def segments(session_hex: str, copy: ForkCopy | None, newest_first: bool, after: str | None) -> list[Segment]:
    """The key ranges a listing reads, in its order, from those that hold `after` (or come after it) on."""
    if copy is None:
        return [Segment(session_hex)]
    found = [
        Segment(session_hex, None, copy.copied_through),
        inherited(session_hex, copy),
        Segment(session_hex, copy.through, None),
    ]
    found = [segment for segment in found if segment.high is None or (segment.low or "") < segment.high]
    if newest_first:
        found.reverse()
    if after is None:
        return found
    if newest_first:
        return [segment for segment in found if (segment.low or "") < after]
    return [segment for segment in found if segment.high is None or after < segment.high]


def passes(block: Block, block_type: BlockType | None, tag: str | None, pinned: bool | None) -> bool:
    return (
        (block_type is None or block.type is block_type)
        and (tag is None or tag in block.tags)
        and (pinned is None or block.pinned is pinned)
    )
