"""A model request in the formats a caller's own agent loop sends: Anthropic Messages (with `cache_control`) and
plain text. Bedrock Converse and OpenAI Chat Completions are the providers' own (`converse_arguments`,
`chat_body`), so what the context endpoint answers in those formats is byte for byte what an invocation sends."""

import json
from typing import Any

from agentctx.providers.base import CachePoint, ModelRequest, Part, TextPart, ToolResultPart, ToolUsePart


def _cache_control(point: CachePoint) -> dict[str, str]:
    return {"type": "ephemeral", "ttl": point.ttl} if point.ttl != "5m" else {"type": "ephemeral"}


def _anthropic_block(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolUsePart):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.input}
    assert isinstance(part, ToolResultPart)
    return {"type": "tool_result", "tool_use_id": part.tool_use_id, "content": part.output, "is_error": part.is_error}


def _anthropic_blocks(parts: list[Any]) -> list[dict[str, Any]]:
    """Content blocks; a cache point marks the block before it, as Anthropic's `cache_control` does."""
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, CachePoint):
            if blocks:
                blocks[-1]["cache_control"] = _cache_control(part)
        else:
            blocks.append(_anthropic_block(part))
    return blocks


def anthropic_messages_body(request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model.provider_model_id,
        "max_tokens": request.model.max_output_tokens,
        "messages": [
            {"role": message.role, "content": _anthropic_blocks(message.parts)} for message in request.messages
        ],
    }
    if request.system:
        body["system"] = _anthropic_blocks(request.system)
    if request.tools:
        tools: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in request.tools
        ]
        if request.tools_cache:
            tools[-1]["cache_control"] = _cache_control(request.tools_cache)
        body["tools"] = tools
        if request.tool_choice == "none":
            body["tool_choice"] = {"type": "none"}
    return body


def plain_text(request: ModelRequest) -> str:
    """The system text, then each message as `role: text`, tool calls and results written out."""
    lines = [request.system_text] if request.system_text else []
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                lines.append(f"{message.role}: {part.text}")
            elif isinstance(part, ToolUsePart):
                lines.append(f"{message.role} called {part.name}({json.dumps(part.input, sort_keys=True)})")
            elif isinstance(part, ToolResultPart):
                lines.append(f"{part.name} returned: {part.output}")
    return "\n\n".join(lines)
