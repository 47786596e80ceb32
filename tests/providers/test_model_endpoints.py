"""The recording model endpoints answer our real clients and report the cache usage each provider's rules give."""

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from agentctx.capabilities import CATALOGUE
from agentctx.domain import Model, Provider
from agentctx.providers.base import (
    ChatMessage,
    Finished,
    ModelRequest,
    TextDelta,
    TextPart,
    ToolResultPart,
    ToolUse,
    ToolUsePart,
    Usage,
)
from agentctx.providers.openai_compat import OpenAICompatibleProvider
from agentctx.tokens import count_tokens, get_encoding
from tests.providers.loopback import Loopback
from tests.providers.model_endpoints import (
    OpenAIPrefixCache,
    bedrock_endpoint,
    bedrock_summary,
    call_tool,
    canonical,
    minimum_tokens,
    openai_endpoint,
    openai_summary,
)
from tests.providers.test_bedrock import provider_at

SONNET = "anthropic.claude-sonnet-4-20250514-v1:0"


def rules(count: int) -> str:
    return " ".join(f"Rule {n}: answer in plain words and cite the block you used." for n in range(count))


SYSTEM = rules(120)  # 1,8xx tokens, above Sonnet's minimum of 1,024
POINT = {"cachePoint": {"type": "default"}}
HOUR = {"cachePoint": {"type": "default", "ttl": "1h"}}


def tokens(*blocks: dict) -> int:
    return sum(count_tokens(canonical(block)) for block in blocks)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bedrock(clock: Clock) -> Iterator[Loopback]:
    with bedrock_endpoint(clock=clock) as endpoint:
        yield endpoint


@pytest.fixture
def client(bedrock: Loopback) -> Any:
    """botocore's own bedrock-runtime client, at the endpoint."""
    return provider_at(bedrock.url).client


def converse(client: Any, messages: list[dict], system: list[dict] | None = None, model: str = SONNET) -> dict:
    """One ConverseStream call; the usage botocore parsed from the metadata event."""
    response = client.converse_stream(modelId=model, system=system or [{"text": SYSTEM}, POINT], messages=messages)
    [usage] = [item["metadata"]["usage"] for item in response["stream"] if "metadata" in item]
    return usage


def user(*texts: str, point: bool = False) -> dict:
    return {"role": "user", "content": [{"text": text} for text in texts] + ([POINT] if point else [])}


def cache_figures(usage: dict) -> tuple[int, int, int]:
    return usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"], usage["inputTokens"]


def test_identical_requests_read_the_second_time_all_but_what_follows_the_last_point(bedrock, client):
    first = converse(client, [user("What changed?")])
    second = converse(client, [user("What changed?")])

    system, question = tokens({"text": SYSTEM}), tokens({"text": "What changed?"})
    assert system >= 1_024
    assert cache_figures(first) == (0, system, question)
    assert cache_figures(second) == (system, 0, question)
    assert first["outputTokens"] == count_tokens("Answer number 1.")
    assert first["cacheDetails"] == [{"ttl": "5m", "inputTokens": system}] and "cacheDetails" not in second
    assert [sent["usage"] for sent in bedrock.requests] == [first, second]
    assert bedrock.requests[0]["model"] == SONNET


def test_a_one_hour_point_and_a_five_minute_point_report_their_writes_apart_and_price_as_such(bedrock, client):
    converse(client, [user("q", point=True)], system=[{"text": SYSTEM}, HOUR])
    converse(client, [user("q", point=True)], system=[{"text": SYSTEM}, HOUR])

    system, question = tokens({"text": SYSTEM}), tokens({"text": "q"})
    first, second = (sent["usage"] for sent in bedrock.requests)
    assert first["cacheDetails"] == [{"ttl": "1h", "inputTokens": system}, {"ttl": "5m", "inputTokens": question}]
    assert cache_figures(second) == (system + question, 0, 0)
    summary = bedrock_summary([first, second])
    assert summary.relative_cost == pytest.approx(
        (2 * system + 1.25 * question + 0.1 * (system + question)) / (2 * (system + question))
    )


def test_an_appended_turn_reads_the_earlier_point_through_the_lookback_of_20_blocks(client):
    converse(client, [user("first question", point=True)])
    assistant = {"role": "assistant", "content": [{"text": "first answer"}]}
    nineteen = converse(client, [user("first question"), assistant, user(*map(str, range(18)), point=True)])
    converse(client, [user("other question", point=True)])
    twenty = converse(client, [user("other question"), assistant, user(*map(str, range(19)), point=True)])

    numbers = [tokens({"text": str(n)}) for n in range(19)]
    earlier, answer = tokens({"text": SYSTEM}, {"text": "first question"}), tokens({"text": "first answer"})
    assert cache_figures(nineteen) == (earlier, answer + sum(numbers[:18]), 0)
    written = tokens({"text": "other question"}) + answer + sum(numbers)
    assert cache_figures(twenty) == (tokens({"text": SYSTEM}), written, 0)  # only the system point is in reach


def test_a_change_early_in_the_prefix_is_written_again(client):
    converse(client, [user("hello", point=True)])
    changed = converse(client, [user("hello", point=True)], system=[{"text": SYSTEM + " Be brief."}, POINT])

    assert cache_figures(changed) == (0, tokens({"text": SYSTEM + " Be brief."}, {"text": "hello"}), 0)


def test_the_same_text_said_by_the_other_role_is_another_prefix(client):
    converse(client, [user("hi"), {"role": "assistant", "content": [{"text": "same"}, POINT]}])
    swapped = converse(client, [user("hi", "same", point=True)])

    assert cache_figures(swapped)[0] == tokens({"text": SYSTEM})


def test_a_prefix_under_the_models_minimum_is_not_cached(client):
    short = [{"text": "Be brief."}, POINT]
    usages = [converse(client, [user("hello")], system=short) for _ in range(2)]

    assert [cache_figures(usage) for usage in usages] == [(0, 0, tokens({"text": "Be brief."}, {"text": "hello"}))] * 2


def test_an_entry_lives_five_minutes_since_its_last_read_and_a_one_hour_point_an_hour(client, clock):
    system = tokens({"text": SYSTEM})
    converse(client, [user("q")])
    clock.now += 299
    refreshed = converse(client, [user("q")])
    clock.now += 299
    still = converse(client, [user("q")])
    clock.now += 301
    expired = converse(client, [user("q")])
    converse(client, [user("q")], system=[{"text": SYSTEM}, HOUR])
    clock.now += 3_599
    hour = converse(client, [user("q")], system=[{"text": SYSTEM}, HOUR])

    assert [cache_figures(u)[:2] for u in (refreshed, still, expired, hour)] == [
        (system, 0),
        (system, 0),
        (0, system),
        (system, 0),
    ]


def test_a_read_through_the_lookback_keeps_the_entry_it_read_alive(client, clock):
    converse(client, [user("q", point=True)], system=[{"text": SYSTEM}])
    clock.now += 299
    converse(client, [user("q"), {"role": "assistant", "content": [{"text": "a"}]}, user("more", point=True)])
    clock.now += 299
    again = converse(client, [user("q", point=True)], system=[{"text": SYSTEM}])

    assert cache_figures(again) == (tokens({"text": SYSTEM}, {"text": "q"}), 0, 0)


@pytest.mark.parametrize(
    ("model", "system", "tools", "message"),
    [
        (
            SONNET,
            [{"text": "a"}, POINT, {"text": "b"}, POINT, {"text": "c"}, POINT, {"text": "d"}, POINT],
            [POINT],
            "at most 4",
        ),
        ("anthropic.claude-test", [{"text": "a"}, POINT], [], "does not support prompt caching"),
        (SONNET, [{"text": "a"}, POINT, {"text": "b"}, HOUR], [], "ttl 1h must come before"),
        ("amazon.nova-pro-v1:0", [{"text": "a"}], [POINT], "Nova models do not support cachePoint in toolConfig"),
    ],
    ids=["five points", "model without caching", "1h after 5m", "nova point in tools"],
)
def test_a_request_bedrock_refuses_is_a_validation_exception(bedrock, client, model, system, tools, message):
    tool = {"toolSpec": {"name": "t", "description": "d", "inputSchema": {"json": {"type": "object"}}}}
    config = {"toolConfig": {"tools": [tool, *tools]}}
    with pytest.raises(ClientError) as raised:
        client.converse_stream(modelId=model, system=system, messages=[user("hi")], **config)

    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException" and message in error["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert bedrock.requests[-1]["usage"] is None


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 1_024),
        ("anthropic.claude-opus-4-1-20250805-v1:0", 1_024),
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", 1_024),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", 2_048),
        ("global.anthropic.claude-opus-4-5-20251101-v1:0", 4_096),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", 4_096),
        ("amazon.nova-lite-v1:0", 1_000),
        ("anthropic.claude-3-haiku-20240307-v1:0", None),
    ],
)
def test_the_minimum_cacheable_prefix_follows_the_model_table(model, minimum):
    assert minimum_tokens(model) == minimum


def test_our_bedrock_provider_is_asked_for_a_tool_twice_then_answered_with_usage_as_reported():
    model = Model("org_x", "a" * 32, "claude", Provider.BEDROCK, SONNET, 200_000, 1_000, {}, "t", "t")
    messages = [ChatMessage("user", [TextPart("time?")])]
    with bedrock_endpoint(call_tool("current_time", 2, {"zone": "UTC"}, then="It is noon.")) as endpoint:
        provider = provider_at(endpoint.url)
        answers = []
        for _ in range(3):
            answers.append(
                list(
                    provider.stream(
                        ModelRequest(model, [TextPart("Be brief.")], messages, CATALOGUE["current_time"].tools())
                    )
                )
            )
            for item in answers[-1]:
                if isinstance(item, ToolUse):
                    messages.append(ChatMessage("assistant", [ToolUsePart(item.id, item.name, item.input)]))
                    messages.append(ChatMessage("user", [ToolResultPart(item.id, item.name, "12:00")]))

    reported = [sent["usage"] for sent in endpoint.requests]
    assert [a[:2] for a in answers[:2]] == [
        [ToolUse(f"tooluse_{n}_1", "current_time", {"zone": "UTC"}), Finished("tool_use")] for n in range(2)
    ]
    assert answers[2][:2] == [TextDelta("It is noon."), Finished("end_turn")]
    assert [a[-1] for a in answers] == [Usage(u["inputTokens"], u["outputTokens"]) for u in reported]
    assert reported[2]["outputTokens"] == count_tokens("It is noon.")


def openai_request(model: Model, *texts: str) -> ModelRequest:
    return ModelRequest(model, [TextPart(rules(125))], [ChatMessage("user", [TextPart(text)]) for text in texts])


def prompt_tokens(body: dict) -> list[int]:
    encoding = get_encoding("o200k_base")
    return [token for item in body["messages"] for token in encoding.encode(canonical(item))]


def test_openai_caches_the_shared_prefix_in_128_token_steps_from_1024_as_our_provider_reports():
    model = Model("org_x", "b" * 32, "gpt", Provider.OPENAI, "gpt-test", 128_000, 500, {}, "t", "t")
    with openai_endpoint() as endpoint:
        provider = OpenAICompatibleProvider(endpoint.url + "/v1", "sk-test")
        first = list(provider.stream(openai_request(model, "Summarise the rules.")))
        second = list(provider.stream(openai_request(model, "Summarise the rules twice.")))

    one, two = (prompt_tokens(sent["body"]) for sent in endpoint.requests)
    shared = next(n for n, (a, b) in enumerate(zip(one, two, strict=False)) if a != b)
    usages = [sent["usage"] for sent in endpoint.requests]
    assert usages[0]["prompt_tokens_details"] == {"cached_tokens": 0}
    cached = usages[1]["prompt_tokens_details"]["cached_tokens"]
    assert shared % 128 >= 64  # a coarser or finer step would give another figure
    assert cached == shared // 128 * 128 and cached >= 1_024
    assert [usage["prompt_tokens"] for usage in usages] == [len(one), len(two)]
    assert Usage(len(one), count_tokens("Answer number 1.")) in first
    assert Usage(len(two), count_tokens("Answer number 2."), cache_read_tokens=cached) in second
    assert endpoint.requests[0]["path"] == "/v1/chat/completions"


def openai_body(content: str, key: str | None = None) -> dict:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": content}], "stream": True}
    return body | ({"prompt_cache_key": key} if key else {})


def test_openai_caches_nothing_under_1024_tokens_nor_across_prompt_cache_keys():
    cache = OpenAIPrefixCache(Clock())
    short = [cache.usage(openai_body("Be brief, " * 50))["prompt_tokens_details"]["cached_tokens"] for _ in range(2)]
    keyed = [cache.usage(openai_body(SYSTEM, key))["prompt_tokens_details"]["cached_tokens"] for key in ("a", "b", "a")]

    assert cache.usage(openai_body("Be brief, " * 50))["prompt_tokens"] < 1_024
    assert short == [0, 0]
    assert keyed[:2] == [0, 0] and keyed[2] >= 1_024


def test_openai_entries_expire_after_the_idle_ttl():
    clock = Clock()
    cache = OpenAIPrefixCache(clock, ttl=300)
    cache.usage(openai_body(SYSTEM))
    clock.now += 299
    kept = cache.usage(openai_body(SYSTEM))["prompt_tokens_details"]["cached_tokens"]
    clock.now += 301
    lost = cache.usage(openai_body(SYSTEM))["prompt_tokens_details"]["cached_tokens"]

    assert kept >= 1_024 and lost == 0


def test_summaries_total_the_input_and_price_it_against_no_caching():
    claude = bedrock_summary(
        [
            {
                "inputTokens": 100,
                "cacheReadInputTokens": 0,
                "cacheWriteInputTokens": 1_000,
                "cacheDetails": [{"ttl": "5m", "inputTokens": 600}, {"ttl": "1h", "inputTokens": 400}],
            },
            {"inputTokens": 100, "cacheReadInputTokens": 1_000, "cacheWriteInputTokens": 0},
        ]
    )
    openai_usages = [
        {"prompt_tokens": 2_000, "prompt_tokens_details": {"cached_tokens": 0}},
        {"prompt_tokens": 2_000, "prompt_tokens_details": {"cached_tokens": 1_024}},
    ]
    gpt = openai_summary(openai_usages)

    assert (claude.input_tokens, claude.read_tokens, claude.written_tokens) == (2_200, 1_000, 1_000)
    assert claude.read_share == pytest.approx(1_000 / 2_200)
    assert claude.relative_cost == pytest.approx((200 + 600 * 1.25 + 400 * 2 + 1_000 * 0.1) / 2_200)
    assert (gpt.input_tokens, gpt.read_tokens, gpt.read_share) == (4_000, 1_024, pytest.approx(0.256))
    assert gpt.relative_cost == pytest.approx((4_000 - 1_024 + 512) / 4_000)
    assert openai_summary(openai_usages, cached_price=0.25).relative_cost == pytest.approx((4_000 - 768) / 4_000)
