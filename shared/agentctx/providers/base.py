"""The model-provider port: a chat request in, a stream of events out."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agentctx.capabilities import ToolSpec
from agentctx.domain import Model


@dataclass
class TextPart:
    text: str


@dataclass
class ToolUsePart:
    id: str
    name: str
    input: dict[str, Any]


@dataclass
class ToolResultPart:
    tool_use_id: str
    name: str
    output: str
    is_error: bool = False


@dataclass(frozen=True)
class CachePoint:
    """Where a provider may cache the prompt up to here (a Bedrock `cachePoint`, an Anthropic `cache_control`)."""

    ttl: Literal["5m", "1h"] = "5m"


Part = TextPart | ToolUsePart | ToolResultPart | CachePoint
SystemPart = TextPart | CachePoint


@dataclass
class ChatMessage:
    role: Literal["user", "assistant"]
    parts: list[Part]


@dataclass
class ModelRequest:
    """One model call, least volatile first: tools, system, messages. `tool_choice` "none" keeps the tools listed
    (so the cached prefix and the tool parts in the messages stay valid) but asks for an answer without them;
    `cache_key` routes requests that share a prefix to the same cache where a provider takes one."""

    model: Model
    system: list[SystemPart]
    messages: list[ChatMessage]
    tools: list[ToolSpec] = field(default_factory=list)
    tools_cache: CachePoint | None = None
    tool_choice: Literal["auto", "none"] = "auto"
    cache_key: str | None = None

    @property
    def system_text(self) -> str:
        return "\n\n".join(part.text for part in self.system if isinstance(part, TextPart))


@dataclass
class TextDelta:
    text: str


@dataclass
class ThinkingDelta:
    text: str


@dataclass
class ToolUse:
    id: str
    name: str
    input: dict[str, Any]


@dataclass
class Usage:
    """One model call's tokens. `input_tokens` is all the input the model took; the cache reads and writes are
    parts of it (each priced apart)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class Finished:
    stop_reason: str


ModelEvent = TextDelta | ThinkingDelta | ToolUse | Usage | Finished


class ProviderError(Exception):
    """A model call that failed; `code` is one of throttled, model_error, unavailable, bad_request."""

    def __init__(self, code: str, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class EmbeddingUnavailable(ProviderError):
    """An embedding call that failed (the codes of ProviderError): a block goes unembedded, a search answers from
    the lexical index alone."""


class ModelProvider(Protocol):
    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]: ...
