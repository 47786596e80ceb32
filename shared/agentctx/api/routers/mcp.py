"""`POST /mcp`: the Model Context Protocol over Streamable HTTP, stateless, JSON answers, served by the official
`mcp` SDK (its low-level server, so the tools' schemas are our models' and we validate arguments ourselves).

Protocol revisions: 2026-07-28 (no initialize; `server/discover`) and 2025-11-25 for older clients; the SDK picks by
the `MCP-Protocol-Version` header. Each request gets a session manager of its own, entered and left within the
request: nothing outlives it, so it runs the same under uvicorn and under Mangum in Lambda (where a manager shared
across requests cannot be, its task group lives once per manager). The caller is authenticated first, with the same
API keys as REST (a revoked key stops working the same way); the tenant comes from the key only, never from a tool
argument. The tools are in agentctx.api.mcp_tools; a session is a resource `agentctx://sessions/{id}` whose content
is its assembled context.
"""

import json
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from agentctx.errors import DomainError
from agentctx.settings import get_settings

router = APIRouter(tags=["mcp"])
_tenant: ContextVar[str] = ContextVar("agentctx_mcp_tenant")
SESSION_URI = "agentctx://sessions/"
RESOURCE_PAGE = 50


def _error_result(code: str, message: str, details: Any = None) -> Any:
    import mcp_types as types

    error = {"code": code, "message": message} | ({"details": details} if details is not None else {})
    text = f"{code}: {message}"
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content={"error": error}, is_error=True
    )


def _domain_error(error: DomainError) -> tuple[str, str, Any]:
    from agentctx.api.error_handlers import STATUS_BY_ERROR

    _, code = next(value for kind, value in STATUS_BY_ERROR.items() if isinstance(error, kind))
    return code, error.message, error.details


async def _call_tool(ctx: Any, params: Any) -> Any:
    import mcp_types as types

    from agentctx.api.mcp_tools import BY_NAME

    tool = BY_NAME.get(params.name)
    if tool is None:
        return _error_result("not_found", f"no tool named {params.name!r}")
    try:
        arguments = tool.arguments.model_validate(params.arguments or {})
    except ValidationError as invalid:
        problems = [
            {"location": ".".join(str(part) for part in problem["loc"]), "message": problem["msg"]}
            for problem in invalid.errors()
        ]
        named = "; ".join(f"{problem['location'] or 'arguments'}: {problem['message']}" for problem in problems)
        return _error_result("validation_error", f"invalid arguments: {named}", problems)
    tenant = _tenant.get()
    try:
        data = await anyio.to_thread.run_sync(tool.run, tenant, arguments)
    except DomainError as error:
        return _error_result(*_domain_error(error))
    text = json.dumps(data, ensure_ascii=False)
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=data)


async def _list_tools(ctx: Any, params: Any) -> Any:
    return _tool_list()


@lru_cache(maxsize=1)
def _tool_list() -> Any:
    """Built once per container: the schemas do not change."""
    import mcp_types as types

    from agentctx.api.mcp_tools import TOOLS

    return types.ListToolsResult(
        tools=[
            types.Tool(name=tool.name, description=tool.description, input_schema=tool.arguments.model_json_schema())
            for tool in TOOLS
        ]
    )


def _session_page(tenant: str, cursor: str | None) -> tuple[list[Any], str | None]:
    from agentctx.wiring import session_service

    return session_service().list_page(tenant, None, RESOURCE_PAGE, cursor)


async def _list_resources(ctx: Any, params: Any) -> Any:
    import mcp_types as types
    from mcp.shared.exceptions import MCPError

    cursor = params.cursor if params else None
    try:
        sessions, next_cursor = await anyio.to_thread.run_sync(_session_page, _tenant.get(), cursor)
    except DomainError as error:
        raise MCPError(code=-32602, message=error.message) from error
    return types.ListResourcesResult(
        resources=[
            types.Resource(
                uri=f"{SESSION_URI}{session.id}",
                name=session.name,
                mime_type="text/plain",
                description="The session's context, assembled as a model would receive it",
            )
            for session in sessions
        ],
        next_cursor=next_cursor,
    )


async def _list_templates(ctx: Any, params: Any) -> Any:
    import mcp_types as types

    template = types.ResourceTemplate(
        uri_template=SESSION_URI + "{id}",
        name="session",
        mime_type="text/plain",
        description="A session's context, assembled as a model would receive it (its id: sess_...)",
    )
    return types.ListResourceTemplatesResult(resource_templates=[template])


def _session_context(tenant: str, session_id: str) -> str:
    from agentctx.api.mcp_tools import BY_NAME, AssembleContextArgs

    prompt = "(the session's context)"  # assembly is for a prompt; the resource is the context without it
    arguments = AssembleContextArgs(session_id=session_id, prompt=prompt, format="text")
    text = str(BY_NAME["assemble_context"].run(tenant, arguments)["payload"]["text"])
    return text.removesuffix(f"user: {prompt}").rstrip()


async def _read_resource(ctx: Any, params: Any) -> Any:
    import mcp_types as types
    from mcp.shared.exceptions import MCPError

    uri = str(params.uri)
    if not uri.startswith(SESSION_URI):
        raise MCPError(code=-32602, message=f"resource not found: {uri}")
    try:
        text = await anyio.to_thread.run_sync(_session_context, _tenant.get(), uri[len(SESSION_URI) :])
    except DomainError as error:
        raise MCPError(code=-32602, message=f"resource not found: {uri} ({error.message})") from error
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type="text/plain", text=text)])


def _server() -> Any:
    from mcp.server import Server

    return Server(
        "agentctx",
        version="0.1.0",
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
        on_list_resources=_list_resources,
        on_list_resource_templates=_list_templates,
        on_read_resource=_read_resource,
    )


def _security(scope: Scope) -> Any:
    """The SDK's DNS-rebinding protection, with the hosts of MCP_ALLOWED_HOSTS and, behind API Gateway, the domain
    it received the request on (its requestContext, which a caller cannot set). The template cannot name the API's
    host in the function's environment: the API refers to the function, so CloudFormation would see a cycle."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = [host.strip() for host in get_settings().mcp_allowed_hosts.split(",") if host.strip()]
    gateway_domain = ((scope.get("aws.event") or {}).get("requestContext") or {}).get("domainName")
    hosts += [gateway_domain] if gateway_domain else []
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")],
    )


class McpEndpoint:
    """ASGI: the caller authenticated as on REST, then one stateless MCP request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        from agentctx.api.deps import current_tenant

        request = Request(scope, receive)
        api_key, authorization = request.headers.get("X-API-Key"), request.headers.get("Authorization")
        tenant = await anyio.to_thread.run_sync(current_tenant, request, api_key, authorization)
        token = _tenant.set(tenant)
        try:
            manager = StreamableHTTPSessionManager(
                app=_server(), stateless=True, json_response=True, security_settings=_security(scope)
            )
            async with manager.run():
                await manager.handle_request(scope, receive, send)
        finally:
            _tenant.reset(token)


# An ASGI app as the endpoint (Starlette runs it as one); a Mount would answer /mcp with a redirect to /mcp/.
router.add_route("/mcp", McpEndpoint(), methods=["POST"], include_in_schema=False)  # type: ignore[arg-type]
