"""Domain records: what a session and a block are, independent of DynamoDB and HTTP."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from agentctx import ids


class BlockType(StrEnum):
    CONVERSATION = "conversation"
    FILE = "file"
    DIFF = "diff"
    EVENT = "event"
    NOTE = "note"
    SUMMARY = "summary"
    TOOL_RESULT = "tool_result"


# Importance when a client gives none: what a summariser should keep longest. Pinning is separate.
DEFAULT_IMPORTANCE: dict[BlockType, float] = {
    BlockType.SUMMARY: 0.8,
    BlockType.NOTE: 0.7,
    BlockType.FILE: 0.6,
    BlockType.DIFF: 0.6,
    BlockType.CONVERSATION: 0.5,
    BlockType.TOOL_RESULT: 0.4,
    BlockType.EVENT: 0.3,
}


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def render_block_text(block_type: BlockType, content: Any) -> str:
    """The text a model sees for a block; token counts are taken on this text."""
    if block_type is BlockType.CONVERSATION:
        return "\n".join(f"{message['role']}: {message['content']}" for message in content)
    if block_type is BlockType.FILE:
        return f"File {content['path']}:\n{content['content']}"
    if block_type is BlockType.DIFF:
        return f"Diff of {content['path']}:\n{content['diff']}"
    if block_type is BlockType.TOOL_RESULT:
        tool_input = json.dumps(content["input"], ensure_ascii=False, sort_keys=True)
        tool_output = content["output"] if isinstance(content["output"], str) else json.dumps(content["output"])
        return f"Tool {content['tool']}({tool_input}) returned:\n{tool_output}"
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, sort_keys=True)


@dataclass
class Block:
    session_hex: str
    order_key: str
    type: BlockType
    content: Any
    token_count: int
    tags: list[str]
    pinned: bool
    importance: float
    created_at: str
    compaction_level: int = 0
    compacted: bool = False
    # A compacted block names the summary that replaced it; a summary names the blocks it covers.
    compacted_by: str | None = None
    summary_of: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return ids.block_id(self.session_hex, self.order_key)


@dataclass
class ForkFilter:
    include_by_tag: list[str] | None
    exclude_by_tag: list[str] | None
    include_pinned: bool
    include_summaries: bool

    def keeps(self, block: Block) -> bool:
        """Pinned blocks (when includePinned) and summaries (when includeSummaries) are kept whatever their tags;
        any other block needs one of includeByTag (when given) and none of excludeByTag."""
        if block.type is BlockType.SUMMARY and not self.include_summaries:
            return False
        if (block.pinned and self.include_pinned) or block.type is BlockType.SUMMARY:
            return True
        if self.include_by_tag is not None and not set(block.tags) & set(self.include_by_tag):
            return False
        return not (self.exclude_by_tag and set(block.tags) & set(self.exclude_by_tag))


@dataclass
class ForkCopy:
    """A fork whose blocks are still being copied from its source, in order, in the background. Its blocks up to
    `copied_through` (an order key; empty before the first) are its own; the source's blocks after that and up
    to `through` (the fork point) that its filter keeps are read from the source until copied; its blocks after
    `through` are those appended to the fork."""

    source_hex: str
    through: str
    copied_through: str
    filter: ForkFilter

    def from_source(self, order_key: str) -> bool:
        return self.copied_through < order_key <= self.through


@dataclass
class Session:
    tenant_id: str
    hex: str
    name: str
    created_at: str
    updated_at: str
    default_agent: str | None = None
    tags: list[str] = field(default_factory=list)
    # The context window of the default agent's model when the session was made (else the configured default).
    max_tokens: int = 200_000
    # Tokens left before a write queues an automatic compaction (a share of max_tokens, less total_tokens).
    auto_headroom: int = 0
    # An automatic compaction is queued and not finished (the session item's `autoCompactionJob`).
    auto_compaction_pending: bool = False
    total_tokens: int = 0
    block_count: int = 0
    compaction_count: int = 0
    invocation_count: int = 0
    # Active pinned blocks and summaries: counts only, so the session item stays small whatever their number.
    pinned_count: int = 0
    summary_count: int = 0
    forked_from: str | None = None
    # While a fork's blocks are being copied (see ForkCopy); None once they are all its own.
    copy: ForkCopy | None = None
    # The agent-runtime surface (/v1/sessions): its agent, model override and session-level capabilities.
    runtime: "RuntimeConfig | None" = None
    turns: "TurnState" = field(default_factory=lambda: TurnState())

    @property
    def id(self) -> str:
        return ids.SESSION_PREFIX + self.hex

    @property
    def busy(self) -> bool:
        """A turn is running or queued."""
        return self.turns.queued > self.turns.done


class SessionStatus(StrEnum):
    STARTED = "started"
    ACTIVE = "active"
    IDLE = "idle"
    WAITING_FOR_TOOL_RESULTS = "waiting_for_tool_results"


@dataclass
class RuntimeConfig:
    agent_id: str
    model_id: str | None = None
    # As the client sent them (validated): merged over the agent's configs when a turn runs.
    capabilities: list["CapabilityRef"] = field(default_factory=list)
    locale: str | None = None  # BCP 47, as the client gave it
    forked_from: str | None = None  # the session this one was forked from


@dataclass
class TurnState:
    """Where a session's turns stand, kept on the session item and changed in the same transactions as its event
    log. Turns are numbered 1, 2, ... in the order their input messages committed: `queued` is the last number
    given, `done` the last turn finished (turns finish in number order, so every turn up to it is finished),
    `cancelled_through` the last number a cancel reached, and `attempt` counts the starts of turn `active_seq`.
    `last_input_key` is the order key of the last input message, so the next one sorts after it."""

    status: SessionStatus = SessionStatus.STARTED
    event_seq: int = 0
    queued: int = 0
    done: int = 0
    cancelled_through: int = 0
    active_turn: str | None = None
    active_seq: int = 0
    attempt: int = 0
    last_input_key: str = ""
    preview: str | None = None
    output_preview: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    # parts of input_tokens; the cost only once a turn ran on a model with a price
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_micro_usd: int | None = None
    started_at: str | None = None
    finished_at: str | None = None


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    # sort key of the last item when more follow: what a cursor carries
    next_after: str | None
    # the page stopped short of its limit because one more item would have passed the response's byte budget
    truncated_by_bytes: bool = False


@dataclass
class Listed(Generic[T]):
    """A page as a client gets it: its items, the cursor to go on with (None at the end), and whether the byte
    budget (agentctx.payload) cut it short."""

    items: list[T]
    next_cursor: str | None
    truncated_by_bytes: bool = False


@dataclass
class Tenant:
    id: str
    name: str
    created_at: str


@dataclass
class ApiKey:
    id: str
    tenant_id: str
    created_at: str


class Provider(StrEnum):
    BEDROCK = "bedrock"
    OPENAI = "openai"
    OFFLINE = "offline"


# Every tenant has one built-in model, not stored: the organization's default model (settings), with this hex and
# timestamp; an agent created without a model runs on it.
DEFAULT_MODEL_HEX = "0" * 31 + "1"
BUILT_IN_TIMESTAMP = "2026-01-01T00:00:00.000Z"


@dataclass
class ModelCost:
    """A model's price in USD per million tokens (Everruns' ModelCost, with a cache-write price beside the read one).

    - A cache price left out is the input price.
    - Cached tokens are parts of the input: the rest of the input pays the input price.
    """

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def micro_usd(self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> int:
        """A call's cost in micro-dollars (a price per million tokens times tokens), rounded."""
        read_price = self.input if self.cache_read is None else self.cache_read
        write_price = self.input if self.cache_write is None else self.cache_write
        uncached = input_tokens - cache_read - cache_write
        return round(
            uncached * self.input + cache_read * read_price + cache_write * write_price + output_tokens * self.output
        )


@dataclass
class Model:
    tenant_id: str
    hex: str
    name: str
    provider: Provider
    provider_model_id: str
    context_window: int
    max_output_tokens: int
    options: dict[str, Any]
    created_at: str
    updated_at: str
    cost: ModelCost | None = None

    @property
    def id(self) -> str:
        return ids.MODEL_PREFIX + self.hex


@dataclass
class CapabilityRef:
    ref: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Agent:
    tenant_id: str
    hex: str
    name: str
    slug: str
    system_prompt: str
    default_model_id: str
    capabilities: list[CapabilityRef]
    created_at: str
    updated_at: str
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    status: str = "active"  # or "archived"
    # Files copied into each new session of this agent: [{"path", "content"}]
    initial_files: list[dict[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return ids.AGENT_PREFIX + self.hex
