"""The Bedrock adapter against botocore's real ConverseStream parser: recorded event-stream bytes on loopback."""

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
from agentctx.providers.bedrock import BedrockProvider
from tests.providers.loopback import Recorded, serve
from tests.providers.model_endpoints import STREAM_HEADERS, event, frame

MODEL = Model(
    "org_x",
    "a" * 32,
    "claude",
    Provider.BEDROCK,
    "anthropic.claude-test",
    200_000,
    1_000,
    {"temperature": 0.2},
    "t",
    "t",
)


def provider_at(url: str) -> BedrockProvider:
    import botocore.session
    from botocore.config import Config

    client = botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    return BedrockProvider(client)


def request(tools=()) -> ModelRequest:
    return ModelRequest(
        MODEL,
        [TextPart("system prompt")],
        [
            ChatMessage("user", [TextPart("what time is it?")]),
            ChatMessage("assistant", [ToolUsePart("t0", "current_time", {})]),
            ChatMessage("user", [ToolResultPart("t0", "current_time", '{"utc": "now"}')]),
        ],
        list(tools),
    )


def test_stream_maps_text_reasoning_tool_use_usage_and_stop():
    recorded = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let me think"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "It is "}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "noon."}}),
        event(
            "contentBlockStart",
            {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu1", "name": "web_fetch"}}},
        ),
        event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"url": "https://exa'}}}),
        event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": 'mple.com"}'}}}),
        event("contentBlockStop", {"contentBlockIndex": 2}),
        event("messageStop", {"stopReason": "tool_use"}),
        event(
            "metadata",
            {"usage": {"inputTokens": 120, "outputTokens": 30, "totalTokens": 150}, "metrics": {"latencyMs": 5}},
        ),
    ]
    with serve([Recorded(200, STREAM_HEADERS, recorded)]) as loopback:
        events = list(provider_at(loopback.url).stream(request(CATALOGUE["web_fetch"].tools())))

    assert events == [
        ThinkingDelta("Let me think"),
        TextDelta("It is "),
        TextDelta("noon."),
        ToolUse("tu1", "web_fetch", {"url": "https://example.com"}),
        Finished("tool_use"),
        Usage(120, 30),
    ]
    sent = loopback.requests[0]
    assert sent["path"] == "/model/anthropic.claude-test/converse-stream"
    assert sent["body"]["system"] == [{"text": "system prompt"}]
    assert sent["body"]["inferenceConfig"] == {"maxTokens": 1000, "temperature": 0.2}
    assert sent["body"]["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "t0", "name": "current_time", "input": {}}}
    ]
    assert sent["body"]["messages"][2]["content"][0]["toolResult"]["status"] == "success"
    assert sent["body"]["toolConfig"]["tools"][0]["toolSpec"]["name"] == "web_fetch"


def test_throttling_before_the_stream_is_a_retryable_throttled_error():
    throttled = Recorded(
        429,
        {"Content-Type": "application/json", "x-amzn-ErrorType": "ThrottlingException"},
        [json.dumps({"message": "Too many requests"}).encode()],
    )
    with serve([throttled]) as loopback, pytest.raises(ProviderError) as raised:
        list(provider_at(loopback.url).stream(request()))

    assert raised.value.code == "throttled" and raised.value.retryable


def test_an_exception_event_mid_stream_becomes_a_provider_error_after_the_text_so_far():
    recorded = [
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "partial"}}),
        frame(
            {
                ":exception-type": "modelStreamErrorException",
                ":content-type": "application/json",
                ":message-type": "exception",
            },
            {"message": "model crashed"},
        ),
    ]
    received = []
    with serve([Recorded(200, STREAM_HEADERS, recorded)]) as loopback, pytest.raises(ProviderError) as raised:
        for item in provider_at(loopback.url).stream(request()):
            received.append(item)

    assert received == [TextDelta("partial")]
    assert raised.value.code == "unavailable"


def test_validation_error_is_a_bad_request():
    refused = Recorded(
        400,
        {"Content-Type": "application/json", "x-amzn-ErrorType": "ValidationException"},
        [json.dumps({"message": "bad model id"}).encode()],
    )
    with serve([refused]) as loopback, pytest.raises(ProviderError) as raised:
        list(provider_at(loopback.url).stream(request()))

    assert raised.value.code == "bad_request" and "bad model id" in raised.value.message


def test_cached_input_tokens_are_part_of_the_input_and_reported_apart():
    # Bedrock's inputTokens leaves out the tokens read from and written to the prompt cache
    usage = {"inputTokens": 20, "outputTokens": 5, "cacheReadInputTokens": 300, "cacheWriteInputTokens": 40}
    recorded = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi."}}),
        event("messageStop", {"stopReason": "end_turn"}),
        event("metadata", {"usage": usage | {"totalTokens": 365}, "metrics": {"latencyMs": 5}}),
    ]
    with serve([Recorded(200, STREAM_HEADERS, recorded)]) as loopback:
        events = list(provider_at(loopback.url).stream(request()))

    assert events[-1] == Usage(360, 5, cache_read_tokens=300, cache_write_tokens=40)
