"""Amazon Bedrock through the ConverseStream API (IAM action bedrock:InvokeModelWithResponseStream)."""

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

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


def converse_arguments(request: ModelRequest) -> dict[str, Any]:
    messages = []
    for message in request.messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"text": part.text})
            elif isinstance(part, ToolUsePart):
                content.append({"toolUse": {"toolUseId": part.id, "name": part.name, "input": part.input}})
            elif isinstance(part, ToolResultPart):
                status = "error" if part.is_error else "success"
                content.append(
                    {
                        "toolResult": {
                            "toolUseId": part.tool_use_id,
                            "content": [{"text": part.output}],
                            "status": status,
                        }
                    }
                )
        messages.append({"role": message.role, "content": content})
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
        arguments["system"] = [{"text": request.system}]
    if request.tools:
        arguments["toolConfig"] = {
            "tools": [
                {"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": t.input_schema}}}
                for t in request.tools
            ]
        }
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
