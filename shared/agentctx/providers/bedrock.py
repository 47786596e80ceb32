"""Amazon Bedrock through the ConverseStream API (IAM action bedrock:InvokeModelWithResponseStream)."""

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from agentctx.providers.base import (
    CachePoint,
    Finished,
    ModelEvent,
    ModelRequest,
    Part,
    ProviderError,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolResultPart,
    ToolUse,
    ToolUsePart,
    Usage,
)

_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_UNAVAILABLE = {"ServiceUnavailableException", "InternalServerException", "ModelNotReadyException"}
_BAD_REQUEST = {"ValidationException", "AccessDeniedException", "ResourceNotFoundException"}


@lru_cache(maxsize=8)
def bedrock_client(region: str | None) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=120, connect_timeout=5),
    )


def provider_error(error: ClientError) -> ProviderError:
    code = error.response.get("Error", {}).get("Code", "")
    code = code[:1].upper() + code[1:]  # exception events in the stream name it in camelCase
    message = error.response.get("Error", {}).get("Message", "") or code
    if code in _THROTTLED:
        return ProviderError("throttled", f"Bedrock throttled the request: {message}", retryable=True)
    if code in _UNAVAILABLE or code == "ModelStreamErrorException":
        return ProviderError("unavailable", f"Bedrock is unavailable: {message}", retryable=True)
    if code in _BAD_REQUEST:
        return ProviderError("bad_request", f"Bedrock refused the request: {message}")
    return ProviderError("model_error", f"Bedrock failed ({code}): {message}")


def cache_point(point: CachePoint) -> dict[str, Any]:
    return {"cachePoint": {"type": "default", "ttl": point.ttl} if point.ttl != "5m" else {"type": "default"}}


def converse_content(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ToolUsePart):
        return {"toolUse": {"toolUseId": part.id, "name": part.name, "input": part.input}}
    if isinstance(part, ToolResultPart):
        status = "error" if part.is_error else "success"
        return {"toolResult": {"toolUseId": part.tool_use_id, "content": [{"text": part.output}], "status": status}}
    return cache_point(part)


def converse_arguments(request: ModelRequest) -> dict[str, Any]:
    """The ConverseStream arguments; also what the context endpoint answers in the `bedrock` format."""
    messages = [
        {"role": message.role, "content": [converse_content(part) for part in message.parts]}
        for message in request.messages
    ]
    options = request.model.options
    inference: dict[str, Any] = {"maxTokens": request.model.max_output_tokens}
    for option, name in (("temperature", "temperature"), ("top_p", "topP")):
        if option in options:
            inference[name] = options[option]
    arguments: dict[str, Any] = {
        "modelId": request.model.provider_model_id,
        "messages": messages,
        "inferenceConfig": inference,
    }
    if request.system:
        arguments["system"] = [converse_content(part) for part in request.system]
    if request.tools:
        # Listed even when the step wants no tool call (Converse has no "none" choice): a request whose messages
        # hold tool parts must define the tools, and the cached prefix starts with them.
        tools: list[dict[str, Any]] = [
            {"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": t.input_schema}}}
            for t in request.tools
        ]
        if request.tools_cache:
            tools.append(cache_point(request.tools_cache))
        arguments["toolConfig"] = {"tools": tools}
    if isinstance(options.get("additional_model_request_fields"), dict):
        arguments["additionalModelRequestFields"] = options["additional_model_request_fields"]
    return arguments


class BedrockProvider:
    def __init__(self, client: Any) -> None:
        self.client = client

    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        try:
            response = self.client.converse_stream(**converse_arguments(request))
            yield from self._events(response["stream"])
        except ClientError as error:
            raise provider_error(error) from error

    @staticmethod
    def _events(stream: Any) -> Iterator[ModelEvent]:
        tools: dict[int, dict[str, Any]] = {}
        for event in stream:
            if "contentBlockStart" in event:
                start = event["contentBlockStart"].get("start", {}).get("toolUse")
                if start:
                    tools[event["contentBlockStart"]["contentBlockIndex"]] = {
                        "id": start["toolUseId"],
                        "name": start["name"],
                        "input": "",
                    }
            elif "contentBlockDelta" in event:
                delta = event["contentBlockDelta"]["delta"]
                index = event["contentBlockDelta"].get("contentBlockIndex", 0)
                if "text" in delta:
                    yield TextDelta(delta["text"])
                elif "reasoningContent" in delta and delta["reasoningContent"].get("text"):
                    yield ThinkingDelta(delta["reasoningContent"]["text"])
                elif "toolUse" in delta and index in tools:
                    tools[index]["input"] += delta["toolUse"].get("input", "")
            elif "contentBlockStop" in event:
                tool = tools.pop(event["contentBlockStop"].get("contentBlockIndex", 0), None)
                if tool:
                    try:
                        tool_input = json.loads(tool["input"]) if tool["input"] else {}
                    except json.JSONDecodeError as error:
                        raise ProviderError(
                            "model_error", f"Bedrock sent malformed tool input for {tool['name']}"
                        ) from error
                    yield ToolUse(tool["id"], tool["name"], tool_input)
            elif "messageStop" in event:
                stop_reason = event["messageStop"].get("stopReason", "end_turn")
                if stop_reason in ("guardrail_intervened", "content_filtered"):
                    raise ProviderError("model_error", f"Bedrock stopped the answer: {stop_reason}")
                yield Finished(stop_reason)
            elif "metadata" in event:
                usage = event["metadata"].get("usage", {})
                # Bedrock's inputTokens leaves out the cached tokens: the model took all three
                read, written = usage.get("cacheReadInputTokens", 0), usage.get("cacheWriteInputTokens", 0)
                taken = usage.get("inputTokens", 0) + read + written
                yield Usage(taken, usage.get("outputTokens", 0), cache_read_tokens=read, cache_write_tokens=written)
