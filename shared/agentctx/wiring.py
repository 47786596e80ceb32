"""Services and stores built once per container, from settings; the only place that wires them together.

Free of FastAPI, and each factory imports what it builds when first called, so a function loads only the
services it uses (the authorizer: tenants; the sessions function: no providers, tools or invocation code).
"""

from functools import lru_cache
from typing import TYPE_CHECKING

from agentctx.settings import get_settings

if TYPE_CHECKING:
    from agentctx.capabilities.base import ToolScope
    from agentctx.domain import Session
    from agentctx.pagination import CursorCodec
    from agentctx.providers.embeddings import Embedder
    from agentctx.services.agent_loop import AgentLoop
    from agentctx.services.auto_compaction import AutoCompactionTrigger
    from agentctx.services.block_builder import BlockBuilder
    from agentctx.services.blocks import BlockService
    from agentctx.services.catalog import CatalogService
    from agentctx.services.compaction import CompactionService
    from agentctx.services.compaction_runner import CompactionRunner
    from agentctx.services.context import ContextAssembler
    from agentctx.services.context_render import ContextRenderer
    from agentctx.services.event_query import EventQueryService
    from agentctx.services.invocations import InvocationService
    from agentctx.services.quotas import QuotaGuard
    from agentctx.services.runtime_messages import RuntimeMessageService
    from agentctx.services.runtime_sessions import RuntimeSessionService
    from agentctx.services.search import SearchService
    from agentctx.services.search_indexing import SearchIndexer
    from agentctx.services.sessions import SessionService
    from agentctx.services.tenants import TenantService
    from agentctx.services.triggers import TriggerService
    from agentctx.services.turns import TurnService
    from agentctx.services.usage_recorder import UsageRecorder
    from agentctx.store.catalog_store import CatalogStore
    from agentctx.store.context_store import ContextStore
    from agentctx.store.event_bus import EventBus
    from agentctx.store.file_store import SessionFileStore
    from agentctx.store.queue import MessageQueue
    from agentctx.store.search_index import LexicalIndex
    from agentctx.store.turn_jobs import TurnJob
    from agentctx.store.usage_store import UsageStore
    from agentctx.store.vectors import VectorStore


@lru_cache(maxsize=1)
def context_store() -> "ContextStore":
    """The context table's stores; the purge and the fork copy pace themselves on the real clock."""
    from agentctx.store.context_store import ContextStore
    from agentctx.store.pacing import Pacer

    settings = get_settings()
    return ContextStore(settings.context_table_name, settings.record_retention_days, Pacer(), usage_store())


@lru_cache(maxsize=1)
def cursor_codec() -> "CursorCodec":
    from agentctx.pagination import CursorCodec

    return CursorCodec(get_settings().cursor_secret.get_secret_value().encode())


@lru_cache(maxsize=1)
def session_service() -> "SessionService":
    from agentctx.services.session_limits import SessionLimits
    from agentctx.services.sessions import SessionService

    settings = get_settings()
    return SessionService(
        context_store(),
        cursor_codec(),
        SessionLimits(catalog_store(), settings.default_max_tokens, settings.auto_compaction_share),
        queue_job=session_job_queue().send,
        purge_write_units=settings.purge_write_units_per_second,
    )


@lru_cache(maxsize=1)
def session_job_queue() -> "MessageQueue":
    from agentctx.store.queue import MessageQueue

    return MessageQueue(get_settings().session_job_queue_url)


@lru_cache(maxsize=1)
def block_builder() -> "BlockBuilder":
    from agentctx.services.block_builder import BlockBuilder

    settings = get_settings()
    return BlockBuilder(settings.max_block_bytes, settings.tokenizer_encoding)


@lru_cache(maxsize=1)
def auto_compaction_trigger() -> "AutoCompactionTrigger | None":
    """What queues a session's automatic compaction; None where no compaction queue is configured."""
    from agentctx.services.auto_compaction import AutoCompactionTrigger

    return AutoCompactionTrigger(send=compaction_queue().send) if get_settings().compaction_queue_url else None


@lru_cache(maxsize=1)
def block_service() -> "BlockService":
    from agentctx.services.blocks import BlockService

    return BlockService(context_store(), cursor_codec(), block_builder(), auto_compaction_trigger())


@lru_cache(maxsize=1)
def event_bus() -> "EventBus":
    from agentctx.store.event_bus import EventBus

    return EventBus(get_settings().event_bus_name)


@lru_cache(maxsize=1)
def compaction_queue() -> "MessageQueue":
    from agentctx.store.queue import MessageQueue

    return MessageQueue(get_settings().compaction_queue_url)


@lru_cache(maxsize=1)
def compaction_service() -> "CompactionService":
    """Compaction requests and job records (the sessions function): no runner, planner or model provider."""
    from agentctx.services.compaction import CompactionService

    return CompactionService(
        context_store(), session_service(), compaction_queue().send, get_settings().compaction_target_share
    )


@lru_cache(maxsize=1)
def compaction_runner() -> "CompactionRunner":
    """Running compaction jobs (the compaction function and its dead-letter queue's)."""
    from agentctx.providers import provider_for
    from agentctx.services.compaction_planning import JobPlanner
    from agentctx.services.compaction_runner import CompactionRunner
    from agentctx.services.compaction_steps import StepWriter
    from agentctx.services.compaction_summariser import Summariser

    settings = get_settings()
    encoding, concurrency = settings.tokenizer_encoding, settings.compaction_concurrency
    return CompactionRunner(
        context_store(),
        JobPlanner(context_store(), settings.compaction_target_share, concurrency),
        StepWriter(context_store(), catalog_service(), Summariser(provider_for, encoding), encoding, concurrency),
        compaction_queue().send,
        settings.compaction_deadline_margin_seconds,
    )


@lru_cache(maxsize=1)
def tenant_service() -> "TenantService":
    from agentctx.services.tenants import TenantService
    from agentctx.store.tenant_store import TenantStore

    settings = get_settings()
    return TenantService(TenantStore(settings.tenants_table_name), settings.api_key_cache_seconds)


@lru_cache(maxsize=1)
def catalog_store() -> "CatalogStore":
    from agentctx.domain import BUILT_IN_TIMESTAMP, DEFAULT_MODEL_HEX, Model, Provider
    from agentctx.store.catalog_store import CatalogStore

    def default_model(tenant_id: str) -> Model:
        """The organization's default model, as configured for this deployment."""
        settings = get_settings()
        return Model(
            tenant_id=tenant_id,
            hex=DEFAULT_MODEL_HEX,
            name="default",
            provider=Provider(settings.default_model_provider),
            provider_model_id=settings.default_model_provider_model_id,
            context_window=settings.default_model_context_window,
            max_output_tokens=settings.default_model_max_output_tokens,
            options={},
            created_at=BUILT_IN_TIMESTAMP,
            updated_at=BUILT_IN_TIMESTAMP,
        )

    return CatalogStore(get_settings().context_table_name, default_model)


@lru_cache(maxsize=1)
def catalog_service() -> "CatalogService":
    from agentctx.services.catalog import CatalogService

    return CatalogService(catalog_store(), cursor_codec())


@lru_cache(maxsize=1)
def agent_loop() -> "AgentLoop":
    """The model/tool loop, one for invocations and turns alike."""
    from agentctx.providers import provider_for
    from agentctx.services.agent_loop import AgentLoop

    settings = get_settings()
    return AgentLoop(provider_for, settings.max_agent_steps, settings.max_tool_calls)


@lru_cache(maxsize=1)
def invocation_service() -> "InvocationService":
    from agentctx.services.invocation_records import InvocationRecorder
    from agentctx.services.invocations import InvocationService

    return InvocationService(
        catalog=catalog_service(),
        sessions=session_service(),
        store=context_store(),
        assembler=context_assembler(),
        loop=agent_loop(),
        recorder=InvocationRecorder(context_store(), block_builder(), auto_compaction_trigger()),
        scope_for=tool_scope,
    )


@lru_cache(maxsize=1)
def context_renderer() -> "ContextRenderer":
    from agentctx.services.context_render import ContextRenderer

    return ContextRenderer(invocation_service())


@lru_cache(maxsize=1)
def context_assembler() -> "ContextAssembler":
    from agentctx.services.context import ContextAssembler

    return ContextAssembler(context_store(), search_service())


def session_files(tenant_id: str, session_hex: str) -> "SessionFileStore":
    from agentctx.store.file_store import SessionFileStore

    return SessionFileStore(get_settings().context_table_name, tenant_id, session_hex)


def tool_scope(session: "Session") -> "ToolScope":
    """What a tool call on this session reaches: its files and recall over its blocks."""
    from agentctx.capabilities.base import ToolScope
    from agentctx.services.search import SessionRecaller

    return ToolScope(session_files(session.tenant_id, session.hex), SessionRecaller(search_service(), session))


@lru_cache(maxsize=1)
def trigger_service() -> "TriggerService":
    from agentctx.services.triggers import TriggerService

    return TriggerService(block_service(), invocation_service(), event_bus())


@lru_cache(maxsize=1)
def usage_store() -> "UsageStore":
    from agentctx.store.usage_store import UsageStore

    return UsageStore(get_settings().tenants_table_name)


@lru_cache(maxsize=1)
def usage_recorder() -> "UsageRecorder":
    from agentctx.services.usage_recorder import UsageRecorder

    return UsageRecorder(usage_store(), emit_metrics=bool(get_settings().aws_lambda_function_name))


@lru_cache(maxsize=1)
def quota_guard() -> "QuotaGuard":
    from agentctx.services.quotas import QuotaGuard
    from agentctx.store.tenant_store import TenantStore

    settings = get_settings()
    return QuotaGuard(TenantStore(settings.tenants_table_name), usage_store(), settings.default_requests_per_second)


@lru_cache(maxsize=1)
def turn_queue() -> "MessageQueue":
    from agentctx.store.queue import MessageQueue

    return MessageQueue(get_settings().turn_queue_url)


def dispatch_turn(job: "TurnJob", deduplication_id: str | None = None) -> None:
    """Queue a turn job on the FIFO turn queue, in the session's group (one turn of a session at a time)."""
    turn_queue().send_in_order(
        job.body(), group=job.session_hex, deduplication_id=deduplication_id or job.deduplication_id
    )


@lru_cache(maxsize=1)
def runtime_service() -> "RuntimeSessionService":
    from agentctx.services.runtime_sessions import RuntimeSessionService

    return RuntimeSessionService(context_store(), session_service(), catalog_service(), cursor_codec())


@lru_cache(maxsize=1)
def runtime_message_service() -> "RuntimeMessageService":
    from agentctx.services.runtime_messages import RuntimeMessageService

    return RuntimeMessageService(
        context_store(),
        session_service(),
        catalog_service(),
        block_builder(),
        cursor_codec(),
        dispatch_turn if get_settings().turn_queue_url else None,
    )


@lru_cache(maxsize=1)
def event_query_service() -> "EventQueryService":
    from agentctx.services.event_query import EventQueryService

    return EventQueryService(session_service(), context_store())


@lru_cache(maxsize=1)
def turn_service() -> "TurnService":
    from agentctx.services.turn_reasoning import ReasonAndAct
    from agentctx.services.turns import TurnService

    settings = get_settings()
    return TurnService(
        context_store(),
        ReasonAndAct(catalog_service(), agent_loop(), block_builder(), context_assembler(), tool_scope),
        auto_compaction_trigger(),
        dispatch_turn,
        settings.turn_max_attempts,
        settings.turn_seconds,
    )


# Search
@lru_cache(maxsize=1)
def embedder() -> "Embedder | None":
    """What embeds blocks and queries (EMBEDDING_PROVIDER); None: search is lexical only."""
    from agentctx.providers.embeddings import embedder_for

    return embedder_for(get_settings())


@lru_cache(maxsize=1)
def vector_store() -> "VectorStore | None":
    """The block vectors' S3 Vectors index; None where VECTOR_INDEX_ARN is empty (no semantic side)."""
    from agentctx.store.vectors import VectorStore, s3vectors_client

    index_arn = get_settings().vector_index_arn
    return VectorStore(s3vectors_client(), index_arn) if index_arn else None


@lru_cache(maxsize=1)
def search_index() -> "LexicalIndex":
    from agentctx.store.search_index import LexicalIndex

    return LexicalIndex(get_settings().search_table_name)


@lru_cache(maxsize=1)
def search_indexer() -> "SearchIndexer":
    from agentctx.services.search_indexing import SearchIndexer

    return SearchIndexer(search_index(), embedder(), vector_store())


@lru_cache(maxsize=1)
def search_service() -> "SearchService":
    from agentctx.services.search import SearchService

    return SearchService(context_store(), search_index(), embedder, vector_store())
