"""The offline model is deterministic, calls a named tool once per turn, and reports honest token usage."""

from agentctx.capabilities import CATALOGUE
from agentctx.domain import Model, Provider
from agentctx.providers.base import (
    ChatMessage,
    Finished,
    ModelRequest,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolResultPart,
    ToolUse,
    ToolUsePart,
    Usage,
)
from agentctx.providers.offline import OfflineProvider
from agentctx.tokens import count_tokens

MODEL = Model("org_x", "c" * 32, "offline", Provider.OFFLINE, "offline-1", 10_000, 100, {}, "t", "t")
TOOLS = CATALOGUE["current_time"].tools() + CATALOGUE["web_fetch"].tools()


def run(messages):
    return list(OfflineProvider().stream(ModelRequest(MODEL, [TextPart("sys [block x]")], messages, TOOLS)))


def test_names_a_tool_and_gets_a_tool_call_with_the_url():
    events = run([ChatMessage("user", [TextPart("please web_fetch https://example.com/a?b=1 now")])])

    assert isinstance(events[0], ThinkingDelta)
    assert events[1] == ToolUse("tooluse_1", "web_fetch", {"url": "https://example.com/a?b=1"})
    assert events[-1] == Finished("tool_use")


def test_answers_after_the_tool_result_and_counts_tokens():
    messages = [
        ChatMessage("user", [TextPart("what is current_time")]),
        ChatMessage("assistant", [ToolUsePart("tooluse_1", "current_time", {})]),
        ChatMessage("user", [ToolResultPart("tooluse_1", "current_time", '{"utc": "noon"}')]),
    ]

    events = run(messages)

    text = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert "current_time returned" in text and '"utc": "noon"' in text
    usage = next(event for event in events if isinstance(event, Usage))
    thinking = next(event for event in events if isinstance(event, ThinkingDelta))
    assert usage.output_tokens == count_tokens(thinking.text + text)
    assert usage.input_tokens > count_tokens("sys [block x]")
    assert events == run(messages)


def test_no_tool_named_means_a_plain_answer():
    events = run([ChatMessage("user", [TextPart("hello")])])

    assert not any(isinstance(event, ToolUse) for event in events)
    assert events[-1] == Finished("end_turn")
