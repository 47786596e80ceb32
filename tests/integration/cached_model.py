"""A model behind a prompt cache, as the agent loop sees it: the first call asks for `current_time`, the next one
answers; each reports the same usage, most of its input read from the cache. Priced, it costs `CALL_COST_USD`."""

from collections.abc import Iterator
from typing import Any

from agentctx.providers.base import (
    Finished,
    ModelEvent,
    ModelRequest,
    TextDelta,
    TextPart,
    ToolResultPart,
    ToolUse,
    Usage,
)

CALL_USAGE = Usage(1_000, 50, cache_read_tokens=800, cache_write_tokens=100)
PRICE = {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75}
# (1000 - 800 - 100) * 3 + 800 * 0.3 + 100 * 3.75 + 50 * 15 = 1665 micro-dollars
CALL_COST_USD = 0.001665


class CachedModel:
    """Stands in for `AgentLoop.provider_for`: every model is this one."""

    def __call__(self, model: Any) -> "CachedModel":
        return self

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        # this turn's messages: those after the last user message with text (earlier turns are native history)
        start = max(
            (
                i
                for i, m in enumerate(request.messages)
                if m.role == "user" and any(isinstance(p, TextPart) for p in m.parts)
            ),
            default=0,
        )
        answered = any(
            isinstance(part, ToolResultPart) for message in request.messages[start:] for part in message.parts
        )
        if answered or request.tool_choice == "none" or not request.tools:
            yield TextDelta("It is noon.")
            yield Finished("end_turn")
        else:
            yield ToolUse("t1", "current_time", {})
            yield Finished("tool_use")
        yield CALL_USAGE


def cached_model(monkeypatch: Any) -> None:
    """Every agent loop of this process (invocations and turns) calls `CachedModel`."""
    from agentctx.wiring import agent_loop

    monkeypatch.setattr(agent_loop(), "provider_for", CachedModel())
