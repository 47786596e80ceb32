"""One typed configuration object, read from the environment the SAM template sets.

A dataclass checked by hand rather than a pydantic-settings class: every function reads it, and the authorizer and
the queue and stream consumers need nothing else from pydantic at import, which was a third to a half of theirs
(docs/performance.md). A variable is read case-insensitively by its field's name; a value that is not of the field's
type or is out of its bounds fails at the first get_settings(), naming the variable.
"""

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any


class Secret:
    """A value kept out of logs and reprs: read it with get_secret_value()."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def bounded(
    default: float, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None
) -> Any:
    """A numeric setting's default and the range a configured value must fall in."""
    return field(default=default, metadata={"ge": ge, "gt": gt, "le": le, "lt": lt})


_CHECKS = {
    "ge": (lambda value, limit: value >= limit, "at least"),
    "gt": (lambda value, limit: value > limit, "greater than"),
    "le": (lambda value, limit: value <= limit, "at most"),
    "lt": (lambda value, limit: value < limit, "less than"),
}
_ORIGIN = re.compile(r"^(\*|https?://[^/?#\s]+)$")


def _origins(text: str) -> tuple[str, ...]:
    """A comma-separated list of origins as a browser sends them (`scheme://host[:port]`, nothing after), or `*`."""
    listed = tuple(origin.strip() for origin in text.split(",") if origin.strip())
    if not all(_ORIGIN.match(origin) for origin in listed):
        raise ValueError("origins (scheme://host[:port], comma-separated)")
    return listed


def _number(parse: Any) -> Any:
    def parse_number(text: str) -> Any:
        try:
            return parse(text)
        except ValueError:
            raise ValueError("a number") from None

    return parse_number


# Each type's parser; a value it refuses fails with what it expected ("a number", ...). An optional setting given
# empty is unset: a template parameter left empty (BEDROCK_REGION) still sets its variable.
_PARSERS: dict[Any, Any] = {
    int: _number(int),
    float: _number(float),
    str: str,
    Secret: Secret,
    str | None: lambda text: text or None,
    tuple[str, ...]: _origins,
}


@dataclass
class Settings:
    context_table_name: str = "agentctx-context"
    tenants_table_name: str = "agentctx-tenants"
    # Cursors must verify on every container, so AWS deployments set this from a template parameter;
    # the random default only suits a single local process.
    cursor_secret: Secret = field(default_factory=lambda: Secret(secrets.token_urlsafe(32)))
    # sha256 hex of the operator key that the admin API accepts in X-Admin-Key; unset disables the admin API.
    admin_key_sha256: str = ""
    max_block_bytes: int = bounded(256 * 1024, ge=1024, le=350 * 1024)
    default_max_tokens: int = bounded(200_000, ge=1)
    tokenizer_encoding: str = "o200k_base"
    # How long the authorizer trusts a key lookup; a revoked key stops working within this time.
    api_key_cache_seconds: int = bounded(60, ge=0)
    # Model providers. Bedrock's region defaults to the function's (unset or empty); the OpenAI-compatible endpoint
    # and its key are configuration only (never chosen by a tenant), empty disables that provider.
    bedrock_region: str | None = None
    openai_base_url: str = ""
    openai_api_key: Secret = Secret("")
    # Hosts the MCP endpoint answers for (the SDK's DNS-rebinding protection answers 421 to others), comma-separated,
    # `host:*` for any port; behind API Gateway the domain it received the request on is added (routers/mcp.py).
    mcp_allowed_hosts: str = "127.0.0.1:*,localhost:*,testserver"
    # The organization's default model: what an agent created without `default_model_id` runs on (listed under
    # /v1/models as a built-in model). The offline model locally and in the tests; a deployment sets these from its
    # template's DefaultModelProvider and DefaultModelId parameters (a Bedrock inference profile by default).
    default_model_provider: str = "offline"
    default_model_provider_model_id: str = "offline-1"
    default_model_context_window: int = bounded(200_000, ge=1_000)
    default_model_max_output_tokens: int = bounded(4_096, ge=1)
    # The agent loop: at most this many model calls per invocation.
    max_agent_steps: int = bounded(8, ge=1, le=50)
    # And at most this many tool calls: each becomes a block written in the invocation's (or turn's) one final
    # transaction, which DynamoDB caps at 100 items, beside the prompt, the answer and up to ~35 events.
    max_tool_calls: int = bounded(48, ge=1, le=48)
    # Search (docs/search.md): the lexical index's table, the S3 Vectors index (empty: no vector store), and what
    # embeds blocks and queries: `bedrock` (EMBEDDING_MODEL_ID, Titan Text Embeddings V2 by default), `openai` (the
    # OpenAI-compatible endpoint above), `local` (wordllama, offline, in the package) or `none` (lexical only).
    search_table_name: str = "agentctx-search"
    vector_index_arn: str = ""
    embedding_provider: str = "local"
    embedding_model_id: str = "amazon.titan-embed-text-v2:0"
    embedding_dimensions: int = bounded(256, ge=8, le=4096)
    # Compaction: the queue (empty disables compaction), how long POST .../compact waits for the job (safely under
    # API Gateway's 29 s), the share of maxTokens at which a write queues an automatic compaction, and the share
    # of maxTokens a compaction aims at when no targetTokens is given.
    compaction_queue_url: str = ""
    compaction_wait_seconds: float = bounded(20.0, ge=0, le=25)
    auto_compaction_share: float = bounded(0.8, gt=0, le=1)
    compaction_target_share: float = bounded(0.4, gt=0, lt=1)
    # A compaction job writes this many summaries at once, and hands over to a new invocation when less than this
    # many seconds of its function's timeout are left (longer than one summary's model call and a checkpoint).
    compaction_concurrency: int = bounded(8, ge=1, le=32)
    compaction_deadline_margin_seconds: float = bounded(30.0, ge=1)
    # The request rate of a tenant without its own quota (the API Gateway stage allows 100 per second).
    default_requests_per_second: int = bounded(100, ge=1)
    # Set by the Lambda runtime; metering emits EMF metrics only there.
    aws_lambda_function_name: str = ""
    # Turns of /v1/sessions: the FIFO turn queue (empty: messages are refused), how often an event stream polls
    # the event log, sends a heartbeat comment when quiet, and how long one stream lasts (under the streaming
    # function's timeout; the client resumes with Last-Event-ID), and how many times a turn is started before a
    # failure ends it with turn.failed (counted on the session, whichever queue message carried the turn).
    turn_queue_url: str = ""
    # Event-log entries, turn items and compaction job records expire after this many days (0 keeps them).
    record_retention_days: int = bounded(90, ge=0)
    sse_poll_seconds: float = bounded(0.25, gt=0, le=5)
    sse_heartbeat_seconds: float = bounded(20.0, gt=0, le=30)
    sse_max_seconds: float = bounded(270.0, gt=0, le=840)
    turn_max_attempts: int = bounded(3, ge=1, le=10)
    # The time one more turn may take: a turn function with less left hands the job's remaining turns back to the
    # queue instead of starting another.
    turn_seconds: float = bounded(120.0, gt=0)
    # A failed turn job comes back after this many seconds (not the queue's visibility timeout).
    turn_retry_seconds: int = bounded(2, ge=0, le=900)
    # Background work on whole sessions (purging a deleted session's items, copying a fork's blocks): its queue,
    # and the write capacity such a job may use per second, under the 1,000 WCU one partition (one session)
    # takes, so the session's other writers keep room.
    session_job_queue_url: str = ""
    purge_write_units_per_second: int = bounded(500, ge=1, le=1_000)
    # A session job not finished in one invocation continues after this many seconds; a copy job that finds no
    # fork yet looks again this often (12 times).
    session_job_retry_seconds: int = bounded(5, ge=0, le=900)
    # The EventBridge bus that domain events go to.
    event_bus_name: str = "agentctx-events"
    # Idempotency-Key records (Powertools' idempotency table) and how long a key is remembered.
    idempotency_table_name: str = "agentctx-idempotency"
    idempotency_ttl_seconds: int = bounded(86_400, ge=60)
    # In AWS the secrets live in SSM Parameter Store (SecureString): a function that needs one is given the
    # parameter's name here and reads it once per container; locally and in tests the plain values above apply.
    cursor_secret_parameter: str = ""
    admin_key_sha256_parameter: str = ""
    openai_api_key_parameter: str = ""
    # The browser origins (`https://console.example.com`) whose scripts may call the API, comma-separated; none by
    # default, and then no answer carries a CORS header (agentctx.api.cors).
    cors_allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for setting in fields(self):
            value = getattr(self, setting.name)
            for check, limit in setting.metadata.items():
                accepts, wording = _CHECKS[check]
                if limit is not None and not accepts(value, limit):
                    raise ValueError(f"{setting.name.upper()} must be {wording} {limit}, not {value}")

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] = os.environ) -> "Settings":
        """The settings the environment sets, each variable named as its field (any case); the defaults for the rest."""
        given = {name.lower(): value for name, value in environment.items()}
        values: dict[str, Any] = {}
        for setting in fields(cls):
            if setting.name in given:
                text = given[setting.name]
                try:
                    values[setting.name] = _PARSERS[setting.type](text)
                except ValueError as expected:
                    raise ValueError(f"{setting.name.upper()} must be {expected}, not {text!r}") from None
        return cls(**values)


_SECRETS = ("cursor_secret", "admin_key_sha256", "openai_api_key")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings.from_environment()
    names = {secret: getattr(settings, f"{secret}_parameter") for secret in _SECRETS}
    if not any(names.values()):
        return settings
    from aws_lambda_powertools.utilities.parameters import get_parameters_by_name

    values = get_parameters_by_name({name: {} for name in names.values() if name}, decrypt=True, max_age=365 * 86_400)
    update: dict[str, Any] = {}
    for secret, name in names.items():
        if name:
            update[secret] = values[name] if secret == "admin_key_sha256" else Secret(values[name])
    return replace(settings, **update)
