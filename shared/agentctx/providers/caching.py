"""What a model's provider caches, and where our requests may mark it: the defaults per model family, and the
model option `prompt_cache` that changes them.

Explicit cache points (Bedrock `cachePoint`, Anthropic `cache_control`) exist for Claude and Amazon Nova models: at
most 4 a request, each caching the prompt up to it when that prefix has the model's minimum tokens; Nova takes none
in the tools. OpenAI-compatible endpoints cache prefixes by themselves; `prompt_cache_key` routes a session's
requests to the same cache. Any other model gets no markers.
"""

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from agentctx.domain import Model, Provider
from agentctx.errors import InvalidRequest
from agentctx.schemas.catalog import PromptCacheOption

MAX_CACHE_POINTS = 4

# Minimum tokens a cached prefix needs, by model family (Bedrock's prompt caching table; Anthropic's for the
# newer Claude models). First match wins.
_MINIMUM_TOKENS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"claude-(opus-4-[5-9]|haiku-4|opus-[5-9]|haiku-[5-9])"), 4_096),
    (re.compile(r"claude-3-5-haiku"), 2_048),
    (re.compile(r"claude-(3-7-sonnet|sonnet-4|opus-4|sonnet-[5-9])"), 1_024),
    (re.compile(r"amazon\.nova-(micro|lite|pro|premier)"), 1_000),
]


@dataclass(frozen=True)
class CachePolicy:
    """How requests to one model are marked. `markers`: explicit cache points; `min_tokens`: the smallest prefix
    worth a point; `tools`: whether the tools may end with one; `stable_ttl`: the TTL of the points on the tools and
    the stable context (the history's rolling points keep 5 minutes, after them, as providers require)."""

    markers: bool
    min_tokens: int = 1_024
    tools: bool = True
    stable_ttl: Literal["5m", "1h"] = "5m"
    cache_key: bool = False


NO_CACHE = CachePolicy(markers=False)


def prompt_cache_option(options: dict[str, object]) -> PromptCacheOption:
    """The model's `prompt_cache` option. Checked when a model is written; a bad one stored before that was checked
    is the client's error, named, when the model is used."""
    try:
        return PromptCacheOption.model_validate(options.get("prompt_cache") or {})
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise InvalidRequest(f"options.prompt_cache{'.' + where if where else ''}: {problem['msg']}") from error


def cache_policy(model: Model) -> CachePolicy:
    option = prompt_cache_option(model.options)
    if not option.enabled:
        return NO_CACHE
    if model.provider is Provider.OPENAI:
        return CachePolicy(markers=False, cache_key=True)
    if model.provider is not Provider.BEDROCK:
        return NO_CACHE
    model_id = model.provider_model_id
    minimum = next((tokens for pattern, tokens in _MINIMUM_TOKENS if pattern.search(model_id)), None)
    if minimum is None and option.min_tokens is None:
        return NO_CACHE  # a model that cannot cache: Bedrock refuses cache points there
    return CachePolicy(
        markers=True,
        min_tokens=option.min_tokens or minimum or 1_024,
        tools="amazon.nova" not in model_id,
        stable_ttl=option.ttl,
    )
