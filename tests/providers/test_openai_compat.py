"""The OpenAI-compatible provider against a local server that speaks Chat Completions streaming."""

import json

import pytest

from agentctx.capabilities import CATALOGUE
from agentctx.domain import Model, Provider
from agentctx.providers.base import (
    ChatMessage,
    Finished,
    ModelRequest,
    ProviderError,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolResultPart,
    ToolUse,
    ToolUsePart,
    Usage,
)
from agentctx.providers.openai_compat import OpenAICompatibleProvider
from tests.providers.loopback import Recorded, serve

MODEL = Model("org_x", "b" * 32, "gpt", Provider.OPENAI, "gpt-test", 128_000, 500, {}, "t", "t")
SSE = {"Content-Type": "text/event-stream"}


def chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> bytes:
    body: dict = {"id": "c1", "object": "chat.completion.chunk", "choices": []}
    if delta is not None or finish:
        body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n".encode()


def request() -> ModelRequest:
    return ModelRequest(
        MODEL,
        [TextPart("be brief")],
        [
            ChatMessage("user", [TextPart("fetch it")]),
            ChatMessage("assistant", [TextPart("calling"), ToolUsePart("call_0", "web_fetch", {"url": "https://a.b"})]),
            ChatMessage("user", [ToolResultPart("call_0", "web_fetch", "page text")]),
        ],
        CATALOGUE["web_fetch"].tools(),
    )


def test_stream_maps_text_reasoning_tool_calls_and_usage():
    recorded = [
        chunk({"role": "assistant", "reasoning_content": "thinking it over"}),
        chunk({"content": "Sure, "}),
        chunk({"content": "fetching."}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "web_fetch", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"url": "https://'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'example.com"}'}}]}),
        chunk(finish="tool_calls"),
        chunk(usage={"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}),
        b"data: [DONE]\n\n",
    ]
    with serve([Recorded(200, SSE, recorded)]) as loopback:
        events = list(OpenAICompatibleProvider(loopback.url + "/v1", "sk-config").stream(request()))

    assert events == [
        ThinkingDelta("thinking it over"),
        TextDelta("Sure, "),
        TextDelta("fetching."),
        Usage(42, 7),
        ToolUse("call_1", "web_fetch", {"url": "https://example.com"}),
        Finished("tool_use"),
    ]
    sent = loopback.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-config"
    body = sent["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-test" and body["max_tokens"] == 500
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["messages"][2]["tool_calls"][0]["function"] == {
        "name": "web_fetch",
        "arguments": '{"url": "https://a.b"}',
    }
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_0", "content": "page text"}
    assert body["tools"][0]["function"]["name"] == "web_fetch"


def test_rate_limit_is_a_throttled_error():
    with (
        serve(
            [Recorded(429, {"Content-Type": "application/json"}, [b'{"error": {"message": "slow down"}}'])]
        ) as loopback,
        pytest.raises(ProviderError) as raised,
    ):
        list(OpenAICompatibleProvider(loopback.url, "").stream(request()))

    assert raised.value.code == "throttled" and raised.value.retryable


def test_error_mid_stream_is_a_model_error_after_the_text_so_far():
    recorded = [chunk({"content": "partial"}), b'data: {"error": {"message": "backend died"}}\n\n']
    received = []
    with serve([Recorded(200, SSE, recorded)]) as loopback, pytest.raises(ProviderError) as raised:
        for item in OpenAICompatibleProvider(loopback.url, "").stream(request()):
            received.append(item)

    assert received == [TextDelta("partial")]
    assert raised.value.code == "model_error" and "backend died" in raised.value.message


def test_unreachable_endpoint_is_unavailable():
    with pytest.raises(ProviderError) as raised:
        list(OpenAICompatibleProvider("http://127.0.0.1:9", "").stream(request()))

    assert raised.value.code == "unavailable"


def test_cached_prompt_tokens_are_reported_as_cache_reads_within_the_input():
    usage = {"prompt_tokens": 1200, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 1024}}
    recorded = [chunk({"content": "ok"}), chunk(finish="stop"), chunk(usage=usage), b"data: [DONE]\n\n"]
    with serve([Recorded(200, SSE, recorded)]) as loopback:
        events = list(OpenAICompatibleProvider(loopback.url + "/v1", "sk-config").stream(request()))

    assert Usage(1200, 9, cache_read_tokens=1024) in events
