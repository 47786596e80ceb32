"""An OpenAI-compatible Chat Completions provider (streaming): OpenAI, vLLM, Ollama and the like.

The endpoint and its key come from configuration only. A tenant chooses the model name, never the host, so the
key cannot be sent to a server of a tenant's choosing.
"""

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from agentctx.providers.base import (
    Finished,
    ModelEvent,
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


def chat_body(request: ModelRequest) -> dict[str, Any]:
    """The Chat Completions body; also what the context endpoint answers in the `openai` format. Cache points have
    no place here (the endpoint caches prefixes by itself); `prompt_cache_key` keeps a session's requests together."""
    system = request.system_text
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in request.messages:
        texts = [part.text for part in message.parts if isinstance(part, TextPart)]
        calls = [part for part in message.parts if isinstance(part, ToolUsePart)]
        results = [part for part in message.parts if isinstance(part, ToolResultPart)]
        for result in results:
            messages.append({"role": "tool", "tool_call_id": result.tool_use_id, "content": result.output})
        if texts or calls:
            entry: dict[str, Any] = {"role": message.role, "content": "\n".join(texts) or None}
            if calls:
                entry["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.input)}}
                    for c in calls
                ]
            messages.append(entry)
    body: dict[str, Any] = {
        "model": request.model.provider_model_id,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": request.model.max_output_tokens,
    }
    if "temperature" in request.model.options:
        body["temperature"] = request.model.options["temperature"]
    if request.cache_key:
        body["prompt_cache_key"] = request.cache_key
    if request.tools:
        if request.tool_choice == "none":
            body["tool_choice"] = "none"
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
            }
            for t in request.tools
        ]
    return body


def connection_to(
    base_url: str, api_key: str, timeout: float, accept: str
) -> tuple[http.client.HTTPConnection, dict[str, str], str]:
    """A connection to an OpenAI-compatible endpoint, the headers its requests send, and its base path."""
    parts = urlsplit(base_url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    headers = {"Content-Type": "application/json", "Accept": accept}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return connection_class(parts.netloc, timeout=timeout), headers, parts.path


class OpenAICompatibleProvider:
    def __init__(self, base_url: str, api_key: str, timeout: float = 120) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        connection, headers, path = connection_to(self.base_url, self.api_key, self.timeout, "text/event-stream")
        try:
            connection.request("POST", f"{path}/chat/completions", json.dumps(chat_body(request)), headers)
            response = connection.getresponse()
            if response.status != 200:
                raise self._status_error(response.status, response.read(2000).decode("utf-8", errors="replace"))
            yield from self._events(response)
        except (OSError, http.client.HTTPException) as failure:
            raise ProviderError(
                "unavailable", f"the model endpoint did not answer: {failure}", retryable=True
            ) from failure
        finally:
            connection.close()

    @staticmethod
    def _status_error(status: int, body: str) -> ProviderError:
        if status == 429:
            return ProviderError("throttled", "the model endpoint is rate limiting requests", retryable=True)
        if status >= 500:
            return ProviderError("unavailable", f"the model endpoint failed with {status}", retryable=True)
        return ProviderError("bad_request", f"the model endpoint refused the request ({status}): {body[:300]}")

    @staticmethod
    def _events(response: http.client.HTTPResponse) -> Iterator[ModelEvent]:
        calls: dict[int, dict[str, Any]] = {}
        finish_reason = None
        for raw in response:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                message = chunk["error"].get("message", "error") if isinstance(chunk["error"], dict) else chunk["error"]
                raise ProviderError("model_error", f"the model endpoint failed mid-stream: {message}")
            if chunk.get("usage"):
                usage = chunk["usage"]
                # prompt_tokens already counts the cached ones; this API reports no cache writes
                cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
                yield Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), cache_read_tokens=cached)
            for choice in chunk.get("choices", []):
                delta = choice.get("delta", {})
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    yield ThinkingDelta(reasoning)
                if delta.get("content"):
                    yield TextDelta(delta["content"])
                for call in delta.get("tool_calls") or []:
                    entry = calls.setdefault(call.get("index", 0), {"id": "", "name": "", "arguments": ""})
                    entry["id"] = call.get("id") or entry["id"]
                    function = call.get("function") or {}
                    entry["name"] = function.get("name") or entry["name"]
                    entry["arguments"] += function.get("arguments") or ""
                finish_reason = choice.get("finish_reason") or finish_reason
        for index in sorted(calls):
            call = calls[index]
            try:
                arguments = json.loads(call["arguments"]) if call["arguments"] else {}
            except json.JSONDecodeError as error:
                raise ProviderError("model_error", f"malformed tool arguments for {call['name']}") from error
            yield ToolUse(call["id"] or f"call_{index}", call["name"], arguments)
        yield Finished("tool_use" if calls else (finish_reason or "end_turn"))
