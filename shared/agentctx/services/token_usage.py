"""A run's token usage: the counters an invocation or a turn adds its model calls to, and how each surface shows
them.

- `inputTokens` is all the input the model took; `cacheReadInputTokens` and `cacheWriteInputTokens` are parts of it.
- `costMicroUsd` is there only once a call of a priced model reported its usage: each call's cost rounded to the
  micro-dollar (agentctx.domain.ModelCost), summed, so a run costs the sum of its calls.
"""

from typing import Any

from agentctx.domain import Model
from agentctx.providers.base import Usage

COUNTS = ("contextTokens", "inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens", "outputTokens")


def new_usage() -> dict[str, int]:
    return dict.fromkeys(COUNTS, 0)


def add_call(usage: dict[str, int], model: Model, call: Usage) -> dict[str, int]:
    """Add one model call's usage (and its cost, when the model has a price); returns the call's own counts."""
    counts = {
        "inputTokens": call.input_tokens,
        "cacheReadInputTokens": call.cache_read_tokens,
        "cacheWriteInputTokens": call.cache_write_tokens,
        "outputTokens": call.output_tokens,
    }
    if model.cost is not None:
        read, written = call.cache_read_tokens, call.cache_write_tokens
        counts["costMicroUsd"] = model.cost.micro_usd(call.input_tokens, call.output_tokens, read, written)
    for name, value in counts.items():
        usage[name] = usage.get(name, 0) + value
    return counts


def cost_usd(micro_usd: int | None) -> float | None:
    return None if micro_usd is None else round(micro_usd / 1_000_000, 6)


def aip_usage(usage: dict[str, int]) -> dict[str, Any]:
    """The AIP surface's usage (camelCase): an invocation's answer, its `complete` event and its record."""
    return {name: usage.get(name, 0) for name in COUNTS} | {"costUsd": cost_usd(usage.get("costMicroUsd"))}


def runtime_usage(usage: dict[str, int]) -> dict[str, Any]:
    """The agent-runtime surface's usage (Everruns' TokenUsage names): a turn's last event, an `llm.generation`."""
    return {
        "input_tokens": usage.get("inputTokens", 0),
        "output_tokens": usage.get("outputTokens", 0),
        "cache_read_tokens": usage.get("cacheReadInputTokens", 0),
        "cache_creation_tokens": usage.get("cacheWriteInputTokens", 0),
        "estimated_cost_usd": cost_usd(usage.get("costMicroUsd")),
    }


def metered(usage: dict[str, int]) -> dict[str, int]:
    """The run's counts under the names of the tenant's usage counters (store/usage_store.py)."""
    return {
        "inputTokens": usage.get("inputTokens", 0),
        "outputTokens": usage.get("outputTokens", 0),
        "contextTokens": usage.get("contextTokens", 0),
        "cacheReadTokens": usage.get("cacheReadInputTokens", 0),
        "cacheWriteTokens": usage.get("cacheWriteInputTokens", 0),
        "costMicroUsd": usage.get("costMicroUsd", 0),
    }
