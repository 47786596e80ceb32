"""How assembled context becomes a model request: least volatile first, native turns, and cache points.

Order: the tools (the agent's, in capability order) -> the agent's system prompt -> the stable context (pinned
blocks, summaries, files and notes, in session order) -> the conversation history as native turns (conversation
blocks as user and assistant messages; a tool result block as the assistant's tool-use part and the user's
tool-result part, never apart) -> what depends on this request (enrichment hits) -> the new user message. Appending a
block changes only what follows the last cache point before it; editing one changes only what follows it.

Cache points (services' side of providers/caching.py): on the tools, at the end of the stable context, at the end
of the history, and at the end of the last message, each only where the prefix it closes has the model's minimum
tokens. On later steps of the agent loop the history's point moves to the end of the step before, so every step
reads the prefix its predecessor wrote, however many tool calls it made. The history's point lets the next turn read
everything up to the previous turn's history through the provider's lookback (Anthropic: 20 content blocks): a turn
that adds more blocks than that is written again once.
"""

import json
from dataclasses import dataclass, field, replace

from agentctx.capabilities import ToolSpec
from agentctx.domain import Block, BlockType, Model, render_block_text
from agentctx.providers.base import (
    CachePoint,
    ChatMessage,
    ModelRequest,
    Part,
    SystemPart,
    TextPart,
    ToolResultPart,
    ToolUsePart,
)
from agentctx.providers.caching import MAX_CACHE_POINTS, CachePolicy, cache_policy
from agentctx.tokens import count_tokens

STABLE_TYPES = frozenset({BlockType.FILE, BlockType.NOTE, BlockType.SUMMARY})
CONTEXT_HEADING = "# Session context"
REQUEST_HEADING = "# Retrieved for this request"
# Bedrock and Anthropic want a conversation to open with the user: a history that opens with the assistant gets this.
HISTORY_OPENING = "(The conversation so far.)"


def is_stable(block: Block) -> bool:
    return block.pinned or block.type in STABLE_TYPES


def labelled(block: Block) -> str:
    return f"[block {block.id} type={block.type.value} tags={','.join(block.tags)}]\n" + render_block_text(
        block.type, block.content
    )


def tool_spec_text(spec: ToolSpec) -> str:
    """A tool as serialised for counting: deterministic, keys sorted."""
    return json.dumps(
        {"name": spec.name, "description": spec.description, "input_schema": spec.input_schema}, sort_keys=True
    )


class _Turns:
    """Native messages, merging consecutive parts of one role (providers want the roles to alternate)."""

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []

    def add(self, role: str, part: Part) -> None:
        if self.messages and self.messages[-1].role == role:
            self.messages[-1].parts.append(part)
        else:
            self.messages.append(ChatMessage("user" if role == "user" else "assistant", [part]))


def history_messages(blocks: list[Block], tool_names: set[str]) -> list[ChatMessage]:
    """The history blocks as native turns. A tool result becomes a tool-use part and its result only for a tool the
    request offers (providers refuse tool parts for tools they were not given); any other block is the user's
    labelled text."""
    turns = _Turns()
    for block in blocks:
        content = block.content
        if block.type is BlockType.CONVERSATION:
            for message in content:
                text = message["content"] if isinstance(message["content"], str) else json.dumps(message["content"])
                if not text:
                    continue
                if message["role"] in ("user", "assistant"):
                    turns.add(message["role"], TextPart(text))
                else:
                    turns.add("user", TextPart(f"[{message['role']}] {text}"))
        elif (
            block.type is BlockType.TOOL_RESULT and content["tool"] in tool_names and isinstance(content["input"], dict)
        ):
            use_id = f"toolu_{block.order_key}"
            output = content["output"]
            text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, sort_keys=True)
            turns.add("assistant", ToolUsePart(use_id, content["tool"], content["input"]))
            turns.add("user", ToolResultPart(use_id, content["tool"], text or "(no output)"))
        else:
            turns.add("user", TextPart(labelled(block)))
    if turns.messages and turns.messages[0].role != "user":
        turns.messages.insert(0, ChatMessage("user", [TextPart(HISTORY_OPENING)]))
    return turns.messages


def _message_tokens(message: ChatMessage) -> int:
    total = 0
    for part in message.parts:
        if isinstance(part, TextPart):
            total += count_tokens(part.text)
        elif isinstance(part, ToolUsePart):
            total += count_tokens(part.name + json.dumps(part.input, sort_keys=True))
        elif isinstance(part, ToolResultPart):
            total += count_tokens(part.output)
    return total


@dataclass
class Layout:
    """The fixed part of every model call of one invocation or turn, and where its cache points go."""

    model: Model
    tools: list[ToolSpec]
    system: list[TextPart]
    history: list[ChatMessage]
    request: list[TextPart]
    prompt: str
    policy: CachePolicy
    cache_key: str | None = None
    # tokens of each section: tools, system, context, history, request (enrichment), prompt
    sections: dict[str, int] = field(default_factory=dict)

    def first_messages(self) -> list[ChatMessage]:
        """The history and the new user message (the request's parts, then the prompt), roles merged."""
        turns = _Turns()
        turns.messages = [ChatMessage(message.role, list(message.parts)) for message in self.history]
        for part in [*self.request, TextPart(self.prompt)]:
            turns.add("user", part)
        return turns.messages

    def history_end(self) -> tuple[int, int]:
        """Where the history ends in `first_messages()`: (message index, parts before the point)."""
        if not self.history:
            return (-1, 0)
        return (len(self.history) - 1, len(self.history[-1].parts))

    def model_request(
        self, messages: list[ChatMessage], previous_end: tuple[int, int] | None = None, tool_choice: str = "auto"
    ) -> ModelRequest:
        """One step's request: `messages` as the loop has them, with cache points added (to copies). On the first
        step the history's point closes the history; later, `previous_end` (where the step before ended) does."""
        policy = self.policy
        system: list[SystemPart] = list(self.system)
        request = ModelRequest(
            self.model,
            system,
            [ChatMessage(message.role, list(message.parts)) for message in messages],
            self.tools,
            tool_choice="none" if tool_choice == "none" else "auto",
            cache_key=self.cache_key if policy.cache_key else None,
        )
        if not policy.markers:
            return request
        stable_point = CachePoint(policy.stable_ttl)
        prefix = self.sections.get("tools", 0)
        points = 0
        if policy.tools and self.tools and prefix >= policy.min_tokens:
            request.tools_cache = stable_point
            points += 1
        prefix += self.sections.get("system", 0) + self.sections.get("context", 0)
        if self.system and prefix >= policy.min_tokens:
            request.system.append(stable_point)
            points += 1
        middle = previous_end or self.history_end()
        last = (len(messages) - 1, len(messages[-1].parts))
        marks = [position for position in (middle, last) if position[0] >= 0]
        inserted = 0
        for position in sorted(set(marks), reverse=True):  # from the end, so earlier positions stay valid
            if points + inserted >= MAX_CACHE_POINTS:
                break
            if prefix < policy.min_tokens and prefix + _tokens_through(messages, position) < policy.min_tokens:
                continue
            index, after = position
            request.messages[index].parts.insert(after, CachePoint())
            inserted += 1
        return request


def _tokens_through(messages: list[ChatMessage], position: tuple[int, int]) -> int:
    index, after = position
    whole = sum(_message_tokens(message) for message in messages[:index])
    return whole + _message_tokens(replace(messages[index], parts=messages[index].parts[:after]))


def layout(
    model: Model,
    system_prompt: str,
    tools: list[ToolSpec],
    blocks: list[Block],
    enriched: list[Block],
    prompt: str,
    cache_key: str | None,
) -> Layout:
    """The request's layout for these assembled blocks (in session order) and enrichment hits."""
    stable = [block for block in blocks if is_stable(block)]
    history = [block for block in blocks if not is_stable(block)]
    system = [TextPart(system_prompt)] if system_prompt else []
    if stable:
        system.append(TextPart(f"{CONTEXT_HEADING}\n\n" + "\n\n".join(labelled(block) for block in stable)))
    request = (
        [TextPart(f"{REQUEST_HEADING}\n\n" + "\n\n".join(labelled(block) for block in enriched))] if enriched else []
    )
    messages = history_messages(history, {spec.name for spec in tools})
    sections = {
        "tools": sum(count_tokens(tool_spec_text(spec)) for spec in tools),
        "system": count_tokens(system_prompt),
        # the blocks' own counts (taken when they were written), not the rendered text tokenized again: the
        # context can be the model's whole window, and this runs on every invocation and turn
        "context": sum(block.token_count for block in stable),
        "history": sum(block.token_count for block in history),
        "request": sum(block.token_count for block in enriched),
        "prompt": count_tokens(prompt),
    }
    return Layout(model, tools, system, messages, request, prompt, cache_policy(model), cache_key, sections)
