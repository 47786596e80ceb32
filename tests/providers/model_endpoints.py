"""Recording model endpoints on loopback that answer like Bedrock's ConverseStream and OpenAI's Chat Completions and
report prompt-cache usage computed by each provider's published caching rules, so tests and benchmarks drive our
providers unchanged (boto3 finds Bedrock at AWS_ENDPOINT_URL_BEDROCK_RUNTIME; the OpenAI provider takes a base URL).
Both also answer embeddings requests (Titan's InvokeModel, OpenAI's /embeddings) with `text_embedding`.

Token counts are an approximation: a prompt block counts as `count_tokens` (o200k_base) of its canonical JSON
(`json.dumps(block, sort_keys=True, separators=(",", ":"))`), not the provider's own tokenizer and template. Cache
hits, writes and their boundaries follow the rules exactly; absolute counts are only close to a real provider's.

    with bedrock_endpoint(call_tool("web_fetch", 2), clock=clock) as bedrock:
        ...  # AWS_ENDPOINT_URL_BEDROCK_RUNTIME=bedrock.url, bedrock_client.cache_clear(), the code under test
    bedrock_summary([sent["usage"] for sent in bedrock.requests if sent["usage"]])
"""

import binascii
import hashlib
import itertools
import json
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from agentctx.tokens import count_tokens, get_encoding
from tests.providers.loopback import Loopback, Recorded, serve_with

Clock = Callable[[], float]
_BEDROCK_INPUTS = ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
STREAM_HEADERS = {"Content-Type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": "req-1"}
SSE_HEADERS = {"Content-Type": "text/event-stream"}


def _header(name: str, value: str) -> bytes:
    encoded_name, encoded_value = name.encode(), value.encode()
    return (
        struct.pack("B", len(encoded_name))
        + encoded_name
        + b"\x07"
        + struct.pack(">H", len(encoded_value))
        + encoded_value
    )


def frame(headers: dict[str, str], payload: dict) -> bytes:
    """One message of the AWS event-stream encoding: prelude, prelude CRC, headers, payload, message CRC."""
    header_bytes = b"".join(_header(name, value) for name, value in headers.items())
    body = json.dumps(payload).encode()
    total = 12 + len(header_bytes) + len(body) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + header_bytes + body
    return message + struct.pack(">I", binascii.crc32(message))


def event(event_type: str, payload: dict) -> bytes:
    return frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class ValidationError(Exception):
    """What Bedrock answers as a 400 ValidationException."""


_NOVA = re.compile(r"amazon\.nova-")
# The minimum cacheable prefix per model family (Bedrock's prompt-caching table); a model matching none cannot cache.
_MINIMUM_TOKENS = (
    (re.compile(r"claude-opus-(4-[5-9]|[5-9])|claude-haiku-4-5"), 4_096),
    (re.compile(r"claude-3-5-haiku"), 2_048),
    (re.compile(r"claude-(sonnet-4|opus-4|3-7-sonnet)"), 1_024),
    (_NOVA, 1_000),
)
_TTL_SECONDS = {"5m": 300.0, "1h": 3_600.0}
MAX_CACHE_POINTS = 4
LOOKBACK_BLOCKS = 20


def minimum_tokens(model_id: str) -> int | None:
    return next((minimum for pattern, minimum in _MINIMUM_TOKENS if pattern.search(model_id)), None)


@dataclass(frozen=True)
class _Point:
    blocks: int  # how many prompt blocks come before it
    ttl: str
    in_tools: bool


class BedrockCache:
    """Anthropic's prompt caching as Bedrock applies it to ConverseStream requests.

    - The prompt is linearised in Anthropic's prefix order: tools, system, then each message's content blocks; a
      block opening a message carries its role, so "user: X" and "assistant: X" differ.
    - At most 4 cache points; 1-hour points before 5-minute ones; Nova takes none in tools; a model outside the
      table takes none at all. Anything else is a ValidationException.
    - A point caches the prefix before it when that prefix holds at least the model's minimum tokens.
    - Lookup: the longest cached prefix ending at a point or at one of the 20 blocks that end at or before it
      (Anthropic's lookback window) is read; from there to the last point is written, and every point's prefix
      stored; what follows the last point is plain input.
    - Entries are keyed by model and prefix hash and live for their TTL (5 minutes, or 1 hour) since last use.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.entries: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (expires at, ttl seconds)

    def usage(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The usage Bedrock reports for this request (Claude's inputTokens are the uncached ones), or raises."""
        hashes, tokens, points = self._linearise(body)
        self._validate(model_id, points)
        prefix = [0]  # prefix[n]: tokens of the first n blocks
        for count in tokens:
            prefix.append(prefix[-1] + count)
        minimum = minimum_tokens(model_id) or 0
        cacheable = [p for p in points if prefix[p.blocks] >= minimum]
        if not cacheable:
            return {"inputTokens": prefix[-1], "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0}
        now = self.clock()
        read = self._longest_hit(model_id, hashes, cacheable, now)
        written_by_ttl: dict[str, int] = {}
        start = read
        for point in cacheable:
            if point.blocks > start:
                written_by_ttl[point.ttl] = written_by_ttl.get(point.ttl, 0) + prefix[point.blocks] - prefix[start]
                start = point.blocks
            ttl = _TTL_SECONDS[point.ttl]
            self.entries[(model_id, hashes[point.blocks - 1])] = (now + ttl, ttl)
        last = cacheable[-1].blocks
        usage: dict[str, Any] = {
            "inputTokens": prefix[-1] - prefix[max(last, read)],
            "cacheReadInputTokens": prefix[read],
            "cacheWriteInputTokens": sum(written_by_ttl.values()),
        }
        if written_by_ttl:
            usage["cacheDetails"] = [{"ttl": ttl, "inputTokens": count} for ttl, count in written_by_ttl.items()]
        return usage

    def _longest_hit(self, model_id: str, hashes: list[str], points: list[_Point], now: float) -> int:
        """The block count of the longest live cached prefix the points can see; that entry's TTL starts again."""
        reach = {n for p in points for n in range(max(1, p.blocks - LOOKBACK_BLOCKS + 1), p.blocks + 1)}
        for blocks in sorted(reach, reverse=True):
            key = (model_id, hashes[blocks - 1])
            entry = self.entries.get(key)
            if entry and entry[0] > now:
                self.entries[key] = (now + entry[1], entry[1])
                return blocks
        return 0

    @staticmethod
    def _linearise(body: dict[str, Any]) -> tuple[list[str], list[int], list[_Point]]:
        """Running prefix hashes and token counts per block, and where the cache points sit."""
        hashes: list[str] = []
        tokens: list[int] = []
        points: list[_Point] = []
        running = hashlib.sha256()
        sections = [(None, True, body.get("toolConfig", {}).get("tools", [])), (None, False, body.get("system", []))]
        sections += [(m["role"], False, m["content"]) for m in body.get("messages", [])]
        for role, in_tools, blocks in sections:
            opening = role
            for block in blocks:
                if "cachePoint" in block:
                    points.append(_Point(len(hashes), block["cachePoint"].get("ttl", "5m"), in_tools))
                    continue
                text = canonical(block)
                running.update(canonical([opening, text]).encode())
                opening = None
                hashes.append(running.copy().hexdigest())
                tokens.append(count_tokens(text))
        return hashes, tokens, points

    @staticmethod
    def _validate(model_id: str, points: list[_Point]) -> None:
        if not points:
            return
        minimum = minimum_tokens(model_id)
        if minimum is None:
            raise ValidationError(f"The model {model_id} does not support prompt caching (cachePoint).")
        if len(points) > MAX_CACHE_POINTS:
            raise ValidationError(f"A request can have at most {MAX_CACHE_POINTS} cachePoint blocks.")
        if _NOVA.search(model_id) and any(p.in_tools for p in points):
            raise ValidationError("Amazon Nova models do not support cachePoint in toolConfig.")
        ttls = [p.ttl for p in points]
        if "1h" in ttls and "5m" in ttls[: len(ttls) - ttls[::-1].index("1h")]:
            raise ValidationError("cachePoint blocks with ttl 1h must come before those with ttl 5m.")


class OpenAIPrefixCache:
    """OpenAI's automatic prompt caching for Chat Completions.

    - The prompt is the tokens of the tools, then each message, each in canonical JSON, concatenated.
    - Cached tokens: the longest prefix shared with an earlier request of the same model and `prompt_cache_key`,
      in 128-token steps, and none under 1,024 tokens (OpenAI's prompt-caching guide).
    - A prefix lives `ttl` seconds since last use: OpenAI keeps them 5 to 10 minutes idle; the shorter is the default.
    """

    STEP = 128
    MINIMUM = 1_024

    def __init__(self, clock: Clock = time.monotonic, ttl: float = 300.0) -> None:
        self.clock = clock
        self.ttl = ttl
        self.expires: dict[tuple[str, str | None, str], float] = {}

    def usage(self, body: dict[str, Any]) -> dict[str, Any]:
        """The prompt part of the usage OpenAI reports: all prompt tokens, and how many of them were cached."""
        encoding = get_encoding("o200k_base")
        prompt: list[int] = []
        for item in [*body.get("tools", []), *body["messages"]]:
            prompt += encoding.encode(canonical(item), disallowed_special=())
        scope = (body["model"], body.get("prompt_cache_key"))
        now = self.clock()
        running = hashlib.sha256()
        cached = 0
        for end in range(self.STEP, len(prompt) + 1, self.STEP):
            running.update(struct.pack(f">{self.STEP}I", *prompt[end - self.STEP : end]))
            key = (*scope, running.hexdigest())
            if self.expires.get(key, 0.0) > now:
                cached = end
            self.expires[key] = now + self.ttl
        cached = cached if cached >= self.MINIMUM else 0
        return {"prompt_tokens": len(prompt), "prompt_tokens_details": {"cached_tokens": cached}}


@dataclass(frozen=True)
class ToolCall:
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """What a script answers: text, tool calls, or both; output tokens count what the model would generate."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()

    def output_tokens(self) -> int:
        return count_tokens(self.text) + sum(count_tokens(canonical([c.name, c.input])) for c in self.tool_calls)


# Given the parsed request body and the request's position among those the endpoint received.
Script = Callable[[dict[str, Any], int], Answer]


def default_script(request: dict[str, Any], index: int) -> Answer:
    """A short text answer that differs from one request to the next, so conversations do not repeat."""
    return Answer(f"Answer number {index + 1}.")


def _tool_results_since_prompt(body: dict[str, Any]) -> int:
    """Tool results after the last user prompt, in either API's message shape."""
    results = 0
    for message in reversed(body.get("messages", [])):
        if message["role"] == "tool":
            results += 1
        elif message["role"] == "user" and isinstance(message["content"], list):
            found = sum("toolResult" in block for block in message["content"])
            if not found:
                break
            results += found
        elif message["role"] == "user":
            break
    return results


def call_tool(name: str, times: int, tool_input: dict[str, Any] | None = None, then: str = "Done.") -> Script:
    """After each user prompt, call tool `name` `times` times, one call per answer, then answer `then`."""

    def script(request: dict[str, Any], index: int) -> Answer:
        if _tool_results_since_prompt(request) < times:
            return Answer(tool_calls=(ToolCall(name, tool_input or {}),))
        return Answer(then)

    return script


def _bedrock_events(answer: Answer, index: int, usage: dict[str, Any]) -> list[bytes]:
    events = [event("messageStart", {"role": "assistant"})]
    if answer.text:
        events += [
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": answer.text}}),
            event("contentBlockStop", {"contentBlockIndex": 0}),
        ]
    for position, call in enumerate(answer.tool_calls, start=1):
        start = {"toolUse": {"toolUseId": f"tooluse_{index}_{position}", "name": call.name}}
        events += [
            event("contentBlockStart", {"contentBlockIndex": position, "start": start}),
            event(
                "contentBlockDelta",
                {"contentBlockIndex": position, "delta": {"toolUse": {"input": canonical(call.input)}}},
            ),
            event("contentBlockStop", {"contentBlockIndex": position}),
        ]
    events += [
        event("messageStop", {"stopReason": "tool_use" if answer.tool_calls else "end_turn"}),
        event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}),
    ]
    return events


def text_embedding(text: str, dimensions: int) -> list[float]:
    """A unit vector of the text's words hashed into `dimensions` buckets (signed): texts sharing words are near,
    texts sharing none are orthogonal or nearly so. Deterministic, so a test can compute what it expects."""
    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = sum(value * value for value in vector) ** 0.5
    return [value / norm for value in vector] if norm else [1.0] + [0.0] * (dimensions - 1)


JSON_HEADERS = {"Content-Type": "application/json"}
TITAN_DIMENSIONS = (256, 512, 1024)


def _titan_embedding(body: dict[str, Any]) -> Recorded:
    """Titan Text Embeddings V2's InvokeModel answer, or its ValidationException for an empty text or dimensions it
    does not offer."""
    text, dimensions = body.get("inputText", ""), body.get("dimensions", 1024)
    if not text or dimensions not in TITAN_DIMENSIONS:
        headers = {**JSON_HEADERS, "x-amzn-ErrorType": "ValidationException"}
        message = "Malformed input request: inputText must not be empty and dimensions one of 256, 512, 1024"
        return Recorded(400, headers, [json.dumps({"message": message}).encode()])
    vector = text_embedding(text, dimensions)
    if not body.get("normalize", True):
        vector = [value * 3.0 for value in vector]
    answer = {"embedding": vector, "embeddingsByType": {"float": vector}, "inputTextTokenCount": count_tokens(text)}
    return Recorded(200, JSON_HEADERS, [json.dumps(answer).encode()])


@contextmanager
def bedrock_endpoint(script: Script = default_script, clock: Clock = time.monotonic) -> Iterator[Loopback]:
    """Bedrock's ConverseStream on loopback: `POST /model/{modelId}/converse-stream` answered in event-stream frames;
    and Titan's embeddings: `POST /model/{modelId}/invoke` answered with `text_embedding` of the inputText.

    Each recorded request gains `model` and the `usage` reported (None when refused with a ValidationException, or
    for an embeddings request)."""
    cache = BedrockCache(clock)
    lock = threading.Lock()
    counter = itertools.count()

    def respond(request: dict[str, Any]) -> Recorded:
        request["model"] = model_id = unquote(request["path"].split("/")[2])
        if request["path"].endswith("/invoke"):
            request["usage"] = None
            return _titan_embedding(request["body"])
        with lock:
            index = next(counter)
            try:
                usage = cache.usage(model_id, request["body"])
            except ValidationError as refused:
                request["usage"] = None
                headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "ValidationException"}
                return Recorded(400, headers, [json.dumps({"message": str(refused)}).encode()])
        answer = script(request["body"], index)
        usage["outputTokens"] = answer.output_tokens()
        usage["totalTokens"] = sum(usage[name] for name in (*_BEDROCK_INPUTS, "outputTokens"))
        request["usage"] = usage
        return Recorded(200, STREAM_HEADERS, _bedrock_events(answer, index, usage))

    with serve_with(respond) as loopback:
        yield loopback


def _openai_chunks(answer: Answer, index: int, usage: dict[str, Any] | None) -> list[bytes]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {"id": f"chatcmpl-{index}", "object": "chat.completion.chunk", "choices": choices, **extra}
        return f"data: {json.dumps(body)}\n\n".encode()

    chunks = [chunk([{"index": 0, "delta": {"role": "assistant", "content": answer.text}, "finish_reason": None}])]
    for position, call in enumerate(answer.tool_calls):
        function = {"name": call.name, "arguments": canonical(call.input)}
        delta = {
            "tool_calls": [
                {"index": position, "id": f"call_{index}_{position}", "type": "function", "function": function}
            ]
        }
        chunks.append(chunk([{"index": 0, "delta": delta, "finish_reason": None}]))
    chunks.append(chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls" if answer.tool_calls else "stop"}]))
    if usage:
        chunks.append(chunk([], usage=usage))
    return [*chunks, b"data: [DONE]\n\n"]


@contextmanager
def openai_endpoint(script: Script = default_script, clock: Clock = time.monotonic) -> Iterator[Loopback]:
    """OpenAI's streamed Chat Completions on loopback (`POST {base}/chat/completions`, any base path), as SSE chunks
    ending with the usage chunk when `stream_options.include_usage` asks for it.

    Embeddings too: `POST {base}/embeddings` answered with `text_embedding` of each input (1,536 dimensions unless
    the request says).

    Each recorded request gains `model` and the `usage` computed, whether or not it was asked for."""
    cache = OpenAIPrefixCache(clock)
    lock = threading.Lock()
    counter = itertools.count()

    def respond(request: dict[str, Any]) -> Recorded:
        body = request["body"]
        request["model"] = body["model"]
        if request["path"].endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            tokens = sum(count_tokens(text) for text in inputs)
            request["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
            data = [
                {"object": "embedding", "index": index, "embedding": text_embedding(text, body.get("dimensions", 1536))}
                for index, text in enumerate(inputs)
            ]
            answer = {"object": "list", "data": data, "model": body["model"], "usage": request["usage"]}
            return Recorded(200, JSON_HEADERS, [json.dumps(answer).encode()])
        with lock:
            index = next(counter)
            usage = cache.usage(body)
        answer = script(body, index)
        usage["completion_tokens"] = answer.output_tokens()
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        request["usage"] = usage
        asked = (body.get("stream_options") or {}).get("include_usage")
        return Recorded(200, SSE_HEADERS, _openai_chunks(answer, index, usage if asked else None))

    with serve_with(respond) as loopback:
        yield loopback


# Input prices relative to an uncached input token. Claude's are Anthropic's (Bedrock charges the same ratios).
# OpenAI's 0.5 is the discount it launched prompt caching with (GPT-4o); later families discount more on its pricing
# page (GPT-4.1 0.25, GPT-5 0.1): pass the one of the model measured.
CLAUDE_READ = 0.1
CLAUDE_WRITE = {"5m": 1.25, "1h": 2.0}
OPENAI_CACHED = 0.5


@dataclass(frozen=True)
class CacheSummary:
    input_tokens: int  # read + written + plain
    read_tokens: int
    written_tokens: int
    read_share: float  # of all input tokens
    relative_cost: float  # input cost over the cost of the same input without caching


def _summary(input_tokens: int, read: int, written: int, cost: float) -> CacheSummary:
    return CacheSummary(
        input_tokens,
        read,
        written,
        read / input_tokens if input_tokens else 0.0,
        cost / input_tokens if input_tokens else 1.0,
    )


def bedrock_summary(usages: Sequence[dict[str, Any]]) -> CacheSummary:
    """Totals over Bedrock usages (as reported) with Claude's prices: reads at 0.1x, writes at 1.25x (5m) or 2x (1h)."""
    read = sum(u["cacheReadInputTokens"] for u in usages)
    written = sum(u["cacheWriteInputTokens"] for u in usages)
    plain = sum(u["inputTokens"] for u in usages)
    writes = sum(CLAUDE_WRITE[d["ttl"]] * d["inputTokens"] for u in usages for d in u.get("cacheDetails", []))
    return _summary(read + written + plain, read, written, plain + CLAUDE_READ * read + writes)


def openai_summary(usages: Sequence[dict[str, Any]], cached_price: float = OPENAI_CACHED) -> CacheSummary:
    """Totals over OpenAI usages (as reported): cached tokens at `cached_price`, nothing extra for writes."""
    total = sum(u["prompt_tokens"] for u in usages)
    cached = sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages)
    return _summary(total, cached, 0, total - cached + cached_price * cached)
