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


Part = TextPart | ToolUsePart | ToolResultPart


@dataclass
class ChatMessage:
    role: Literal["user", "assistant"]
    parts: list[Part]


@dataclass
class ModelRequest:
    model: Model
    system: str
    messages: list[ChatMessage]
    tools: list[ToolSpec] = field(default_factory=list)


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


class ModelProvider(Protocol):
    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]: ...
