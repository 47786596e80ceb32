"""The offline model: deterministic, no network, and it exercises the whole pipeline.

It streams a thinking delta, calls a tool whenever the latest user prompt names one of the tools it was given
(once per tool per turn; a JSON object right after the tool's name in the prompt is its input, else a URL in the
prompt fills a `url` parameter), then answers in streamed text deltas. Token usage is counted with the service's
tokenizer on what it read and what it wrote.
"""

import json
import re
from collections.abc import Iterator

from agentctx.providers.base import (
    ChatMessage,
    Finished,
    ModelEvent,
    ModelRequest,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolResultPart,
    ToolUse,
    ToolUsePart,
    Usage,
)
from agentctx.tokens import count_tokens

_URL = re.compile(r"https?://[^\s'\"<>)]+")


def _text_of(message: ChatMessage) -> str:
    pieces = []
    for part in message.parts:
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, ToolUsePart):
            pieces.append(f"{part.name}({json.dumps(part.input, sort_keys=True)})")
        elif isinstance(part, ToolResultPart):
            pieces.append(part.output)
    return "\n".join(pieces)


class OfflineProvider:
    def stream(self, request: ModelRequest) -> Iterator[ModelEvent]:
        read = "\n".join([request.system_text, *(_text_of(message) for message in request.messages)])
        read += "".join(json.dumps(tool.input_schema, sort_keys=True) + tool.name for tool in request.tools)
        start, prompt = self._latest_prompt(request.messages)
        this_turn = [part for message in request.messages[start:] for part in message.parts]
        results = [part for part in this_turn if isinstance(part, ToolResultPart)]
        called = {part.name for part in this_turn if isinstance(part, ToolUsePart)}
        written: list[str] = []

        thinking = f"Reading the prompt and {read.count('[block ')} context blocks."
        written.append(thinking)
        yield ThinkingDelta(thinking)

        offered = request.tools if request.tool_choice == "auto" else []
        wanted = [tool for tool in offered if tool.name in prompt and tool.name not in called]
        if wanted:
            tool = wanted[0]
            tool_input = self._written_input(prompt, tool.name)
            if tool_input is None and "url" in tool.input_schema.get("properties", {}):
                found = _URL.search(prompt)
                tool_input = {"url": found.group(0) if found else ""}
            tool_input = tool_input or {}
            written.append(tool.name + json.dumps(tool_input))
            yield ToolUse(id=f"tooluse_{len(called) + 1}", name=tool.name, input=tool_input)
            yield Usage(count_tokens(read), count_tokens("".join(written)))
            yield Finished("tool_use")
            return

        answer = f"Offline answer to: {prompt[:200]}"
        if results:
            answer += " | " + " | ".join(f"{result.name} returned {result.output[:200]}" for result in results)
        for word in re.findall(r"\S+\s*", answer):
            written.append(word)
            yield TextDelta(word)
        yield Usage(count_tokens(read), count_tokens("".join(written)))
        yield Finished("end_turn")

    @staticmethod
    def _written_input(prompt: str, tool_name: str) -> dict | None:
        after = prompt[prompt.index(tool_name) + len(tool_name) :].lstrip()
        if not after.startswith("{"):
            return None
        try:
            value, _ = json.JSONDecoder().raw_decode(after)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @staticmethod
    def _latest_prompt(messages: list[ChatMessage]) -> tuple[int, str]:
        """Where this turn starts (the latest user message with text) and its prompt (that message's last text)."""
        for index in range(len(messages) - 1, -1, -1):
            texts = [part.text for part in messages[index].parts if isinstance(part, TextPart)]
            if messages[index].role == "user" and texts:
                return index, texts[-1]
        return 0, ""
