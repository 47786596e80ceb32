"""Which Lambda function serves which routers: the one source for each function's app, the full app, the API events
and descriptions of template.yaml (`make routes`) and docs/architecture.md.

A route is declared once, by its decorator in a module of agentctx.api.routers; adding a router to a function is one
line here. Routers are named, not imported, so a function's cold start imports only its own.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP function of template.yaml (`logical_id`, code in functions/<folder>/) and what its app serves.

    - `routers`: modules of agentctx.api.routers whose routes API Gateway sends to this function. The full app
      includes them in the order of FUNCTIONS, which is the path order of the OpenAPI document.
    - `unrouted`: routers the app serves that API Gateway sends elsewhere (the web adapter's readiness check).
    - `streams`: the app runs under uvicorn behind the Lambda Web Adapter in response-stream mode (functions/<folder>/
      run.sh), since Mangum buffers whole responses; every route of it streams, up to the function's timeout. No
      authorizer context reaches an app this way, so it checks the API key itself (agentctx.api.deps).
    - `preloads_tokenizer`: under SnapStart the tokenizer is loaded before the snapshot, not on the first request.
    - `preloads`: modules the app imports only when first used, imported before the snapshot under SnapStart.
    - `purpose`: the function's Description in the template.
    """

    logical_id: str
    folder: str
    purpose: str
    routers: tuple[str, ...]
    streams: bool = False
    preloads_tokenizer: bool = False
    preloads: tuple[str, ...] = ()
    unrouted: tuple[str, ...] = ()


FUNCTIONS = (
    HttpFunction(
        "SessionsFunction",
        "sessions",
        "/v1/aip/sessions (with forks and compaction requests) and /health.",
        ("health", "sessions"),
        preloads_tokenizer=True,
    ),
    HttpFunction(
        "BlocksFunction",
        "blocks",
        "/v1/aip/blocks and /v1/aip/sessions/{sessionId}/blocks.",
        ("blocks",),
        preloads_tokenizer=True,
    ),
    HttpFunction(
        "SearchFunction",
        "search",
        "/v1/aip/search: hybrid (lexical and semantic) search over the tenant's blocks.",
        ("search",),
    ),
    HttpFunction("CatalogFunction", "catalog", "/v1/models, /v1/agents and /v1/harnesses.", ("catalog",)),
    HttpFunction(
        "RuntimeFunction",
        "runtime",
        "/v1/sessions (agent-runtime sessions, messages and event log, but its stream), /v1/capabilities and "
        "/v1/channels.",
        ("runtime_sessions", "runtime_messages", "runtime_events", "capabilities", "channels"),
        preloads_tokenizer=True,
    ),
    HttpFunction(
        "InvokeFunction",
        "invoke",
        "Agent invocation (/v1/aip/invoke, /.well-known/aip/*) streamed as Server-Sent Events, the AIP agent list, "
        "invocation records, the context an invocation would send (/v1/aip/context), and the event streams of "
        "/v1/sessions and /v1/channels.",
        ("runtime_stream", "invoke", "context"),
        streams=True,
        unrouted=("health",),
    ),
    HttpFunction(
        "McpFunction",
        "mcp",
        "/mcp: the Model Context Protocol (Streamable HTTP, stateless), the sessions API as tools and resources.",
        ("mcp",),
        preloads_tokenizer=True,
        preloads=("mcp.server", "mcp.server.streamable_http_manager", "mcp.server.transport_security", "mcp_types"),
    ),
    HttpFunction(
        "AdminFunction",
        "admin",
        "The operator's API on /v1/admin (tenants, keys, quotas, usage; X-Admin-Key) and a tenant's /v1/usage.",
        ("admin", "usage"),
    ),
)
# Every routed router once, in the order the full app includes them.
ROUTERS = tuple(dict.fromkeys(router for function in FUNCTIONS for router in function.routers))


_BY_LOGICAL_ID = {function.logical_id: function for function in FUNCTIONS}


def function(logical_id: str) -> HttpFunction:
    return _BY_LOGICAL_ID[logical_id]
