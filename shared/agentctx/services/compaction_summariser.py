"""Writing a compaction's summaries: the session's agent model summarises a step's blocks within a token budget;
without one (or with the offline model) a deterministic extractive summary stands in."""

import re
from collections.abc import Callable

from agentctx.domain import Block, Model, Provider, render_block_text
from agentctx.providers.base import ChatMessage, ModelProvider, ModelRequest, TextDelta, TextPart
from agentctx.tokens import get_encoding

SUMMARY_PROMPT = (
    "Summarise these context blocks of an agent's session for the agent's later use. Keep decisions, facts, "
    "names, file paths and open questions; drop chatter. Answer with the summary only, at most {limit} tokens."
)


class Summariser:
    """Summaries from the session's agent model; the offline model (or no model) gets a deterministic extractive
    summary that honours the token budget."""

    def __init__(self, provider_for: Callable[[Model], ModelProvider], encoding: str) -> None:
        self.provider_for = provider_for
        self.encoding = encoding

    def summarise(self, model: Model | None, blocks: list[Block], limit: int) -> tuple[str, int]:
        """The summary text and the model calls it took."""
        texts = [render_block_text(block.type, block.content) for block in blocks]
        if model is None or model.provider is Provider.OFFLINE:
            return self._extractive(texts, limit), 0
        prompt = "\n\n".join(f"[{block.id}]\n{text}" for block, text in zip(blocks, texts, strict=True))
        request = ModelRequest(
            model, [TextPart(SUMMARY_PROMPT.format(limit=limit))], [ChatMessage("user", [TextPart(prompt)])], tools=[]
        )
        text = "".join(event.text for event in self.provider_for(model).stream(request) if isinstance(event, TextDelta))
        return self._truncate(text.strip() or self._extractive(texts, limit), limit), 1

    def _extractive(self, texts: list[str], limit: int) -> str:
        """The first sentence of each block, in order, as a bullet list cut to the budget."""
        lines = []
        for text in texts:
            first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
            lines.append(f"- {first[:300]}")
        return self._truncate("Summary of earlier context:\n" + "\n".join(lines), limit)

    def _truncate(self, text: str, limit: int) -> str:
        encoding = get_encoding(self.encoding)
        tokens = encoding.encode(text, disallowed_special=())
        return text if len(tokens) <= limit else encoding.decode(tokens[:limit])
