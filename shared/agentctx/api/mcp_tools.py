"""The MCP surface's tools: each a name, what it does, its arguments (built from the models the REST API validates
with, camelCase as the AIP fields are) and what it runs, through the same services and views as the REST route it
stands for. A result is the REST answer's `data` (a list's items under `data`, with `hasMore` and `nextCursor`)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from agentctx.api.views import block_out, search_results, session_list_item, session_out
from agentctx.domain import BlockType
from agentctx.errors import UpstreamFailed
from agentctx.schemas.base import RequestModel, SessionIdIn, Tag
from agentctx.schemas.blocks import BlockBatchCreate, BlockPatch
from agentctx.schemas.compaction import CompactionJobOut, CompactRequest
from agentctx.schemas.invoke import (
    ContextFormat,
    ContextOptions,
    ContextRequest,
    InvokeRequest,
    InvokeResult,
    RenderedContext,
)
from agentctx.schemas.search import SearchRequest
from agentctx.schemas.sessions import SessionCreate, SessionFork

Cursor = Annotated[str, StringConstraints(max_length=2048)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class SessionArgs(RequestModel):
    session_id: SessionIdIn = Field(description="The session's id (sess_...)")


class ListSessionsArgs(RequestModel):
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Cursor | None = None
    tag: Tag | None = None


class AddBlocksArgs(SessionArgs, BlockBatchCreate):
    pass


class ListBlocksArgs(SessionArgs):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor | None = None
    type: BlockType | None = None
    tag: Tag | None = None
    pinned: bool | None = None
    include_compacted: bool = Field(default=False, description="Also list blocks a summary has replaced")


class GetBlocksArgs(RequestModel):
    block_ids: Annotated[list[Id], Field(min_length=1, max_length=100)]


class UpdateBlockArgs(BlockPatch):
    block_id: Id


class ForkSessionArgs(SessionArgs, SessionFork):
    pass


class CompactSessionArgs(SessionArgs, CompactRequest):
    pass


class GetCompactionArgs(SessionArgs):
    compaction_id: Id


class AssembleContextArgs(SessionArgs, ContextOptions):
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)] = Field(
        description="What the context is for: the prompt, and the query enrichment ranks blocks by"
    )
    enrichment: Literal["none", "manual", "auto"] = "none"
    format: ContextFormat | None = None
    agent: Id | None = Field(default=None, description="Render exactly what invoking this agent would send")


@dataclass(frozen=True)
class McpTool:
    name: str
    description: str
    arguments: type[RequestModel]
    run: Callable[[str, Any], dict[str, Any]]


def _listed(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"data": items, "hasMore": next_cursor is not None, "nextCursor": next_cursor}


def _json(model: BaseModel, **options: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", **options)


def _list_sessions(tenant: str, args: ListSessionsArgs) -> dict[str, Any]:
    from agentctx.wiring import session_service

    sessions, next_cursor = session_service().list_page(tenant, args.tag, args.limit, args.cursor)
    return _listed([_json(session_list_item(session)) for session in sessions], next_cursor)


def _create_session(tenant: str, args: SessionCreate) -> dict[str, Any]:
    from agentctx.wiring import quota_guard, session_service

    if args.from_session is not None:
        quota_guard().check_storage(tenant)
    return _json(session_out(session_service().create(tenant, args)))


def _get_session(tenant: str, args: SessionArgs) -> dict[str, Any]:
    from agentctx.wiring import session_service

    return _json(session_out(session_service().get(tenant, args.session_id)))


def _delete_session(tenant: str, args: SessionArgs) -> dict[str, Any]:
    from agentctx.wiring import session_service

    session_service().delete(tenant, args.session_id)
    return {"deleted": True}


def _add_blocks(tenant: str, args: AddBlocksArgs) -> dict[str, Any]:
    from agentctx.wiring import block_service, quota_guard

    blocks = block_service().append(tenant, args.session_id, args.blocks, quota_guard().stored_quota(tenant))
    return _listed([_json(block_out(block), exclude_none=True) for block in blocks], None)


def _list_blocks(tenant: str, args: ListBlocksArgs) -> dict[str, Any]:
    from agentctx.wiring import block_service

    listed = block_service().list_page(
        tenant,
        args.session_id,
        limit=args.limit,
        cursor=args.cursor,
        include_content=False,
        block_type=args.type,
        tag=args.tag,
        pinned=args.pinned,
        include_compacted=args.include_compacted,
    )
    return _listed([_json(block_out(block, False), exclude_none=True) for block in listed.items], listed.next_cursor)


def _get_blocks(tenant: str, args: GetBlocksArgs) -> dict[str, Any]:
    from agentctx.wiring import block_service

    blocks = [block_service().get(tenant, block_id) for block_id in dict.fromkeys(args.block_ids)]
    return _listed([_json(block_out(block), exclude_none=True) for block in blocks], None)


def _update_block(tenant: str, args: UpdateBlockArgs) -> dict[str, Any]:
    from agentctx.wiring import block_service

    patch = BlockPatch.model_validate(args.model_dump(exclude={"block_id"}, exclude_unset=True))
    return _json(block_out(block_service().patch(tenant, args.block_id, patch)), exclude_none=True)


def _fork_session(tenant: str, args: ForkSessionArgs) -> dict[str, Any]:
    from agentctx.wiring import quota_guard, session_service

    quota_guard().check_storage(tenant)
    fork = SessionFork.model_validate(args.model_dump(exclude={"session_id"}))
    return _json(session_out(session_service().fork(tenant, args.session_id, fork)))


def _compact_session(tenant: str, args: CompactSessionArgs) -> dict[str, Any]:
    """Queued and answered at once with the job (poll it with get_compaction), as REST with respond-async."""
    from agentctx.services.auto_compaction import CompactionParams
    from agentctx.wiring import compaction_service

    params = CompactionParams(args.target_tokens, args.preserve_pinned, args.preserve_recent)
    job = compaction_service().request(tenant, args.session_id, params)
    if job["status"] == "failed":
        raise UpstreamFailed("the compaction failed", {"compaction": job})
    return _json(CompactionJobOut.model_validate(job))


def _get_compaction(tenant: str, args: GetCompactionArgs) -> dict[str, Any]:
    from agentctx.wiring import compaction_service

    return _json(CompactionJobOut.model_validate(compaction_service().get(tenant, args.session_id, args.compaction_id)))


def _assemble_context(tenant: str, args: AssembleContextArgs) -> dict[str, Any]:
    from agentctx.services.invocations import command_from
    from agentctx.wiring import context_renderer

    request = ContextRequest(
        prompt=args.prompt,
        session=args.session_id,
        agent=args.agent,
        context=ContextOptions.model_validate(args.model_dump(include=set(ContextOptions.model_fields))),
        enrichment=args.enrichment,
        format=args.format,
    )
    rendered = context_renderer().render(tenant, command_from(request), None, request.format)
    return _json(RenderedContext.model_validate(rendered))


def _invoke_agent(tenant: str, args: InvokeRequest) -> dict[str, Any]:
    """Answered whole: `stream` is taken as REST takes it and has no effect here."""
    from agentctx.services.invocations import command_from
    from agentctx.wiring import invocation_service, quota_guard

    command = command_from(args)
    if command.session_id and command.save_to_session:
        quota_guard().check_storage(tenant)
    service = invocation_service()
    prepared = service.prepare(tenant, command)
    quota_guard().hold_tokens(tenant, prepared.call_estimate)
    return _json(InvokeResult.model_validate(service.invoke(prepared)))


def _search(tenant: str, args: SearchRequest) -> dict[str, Any]:
    """As POST /v1/aip/search answers it, with the search mode beside the results."""
    from agentctx.services.search import query_from
    from agentctx.wiring import search_service

    outcome = search_service().search(tenant, query_from(args))
    return {**_json(search_results(outcome)), "searchMode": outcome.mode}


TOOLS: tuple[McpTool, ...] = (
    McpTool(
        "list_sessions", "The tenant's sessions, newest first, a page at a time.", ListSessionsArgs, _list_sessions
    ),
    McpTool("create_session", "A new session (or a fork, with fromSession).", SessionCreate, _create_session),
    McpTool("get_session", "A session with its metrics.", SessionArgs, _get_session),
    McpTool("delete_session", "Delete a session and its blocks.", SessionArgs, _delete_session),
    McpTool(
        "add_blocks",
        "Append context blocks (conversation, file, diff, event, note, summary, tool_result) in order; answers once "
        "they are committed.",
        AddBlocksArgs,
        _add_blocks,
    ),
    McpTool("list_blocks", "A session's blocks in order, without content.", ListBlocksArgs, _list_blocks),
    McpTool("get_blocks", "Blocks by id, with their content.", GetBlocksArgs, _get_blocks),
    McpTool("update_block", "Pin or unpin a block, set its tags or importance.", UpdateBlockArgs, _update_block),
    McpTool(
        "fork_session",
        "A new session from this one's blocks: by tag, with pinned blocks and summaries.",
        ForkSessionArgs,
        _fork_session,
    ),
    McpTool(
        "compact_session",
        "Summarise old blocks under a token target, keeping pinned and recent ones; answers the job at once.",
        CompactSessionArgs,
        _compact_session,
    ),
    McpTool("get_compaction", "A compaction job: its status and what it produced.", GetCompactionArgs, _get_compaction),
    McpTool(
        "assemble_context",
        "The session's context for a prompt under a token budget, as a model would receive it (text, or a "
        "provider's request body), with its block ids and token count.",
        AssembleContextArgs,
        _assemble_context,
    ),
    McpTool(
        "invoke_agent",
        "Invoke an agent with a session as context: its output, the blocks it created, its usage.",
        InvokeRequest,
        _invoke_agent,
    ),
    McpTool(
        "search",
        "Find blocks of the tenant's sessions by words, identifiers, error strings or meaning (hybrid search), "
        "compacted originals included; read a result whole with get_blocks.",
        SearchRequest,
        _search,
    ),
)
BY_NAME = {tool.name: tool for tool in TOOLS}
