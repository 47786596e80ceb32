"""Builds the FastAPI app from routers, with one error envelope for every failure."""

import os
import time
import uuid
from collections import Counter
from importlib.util import find_spec
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from agentctx import errors, metering
from agentctx.api.idempotency import idempotency_middleware
from agentctx.observability import logger
from agentctx.settings import get_settings

STATUS_BY_ERROR: dict[type[errors.DomainError], tuple[int, str]] = {
    errors.NotFound: (404, "not_found"),
    errors.Conflict: (409, "conflict"),
    errors.PayloadTooLarge: (413, "payload_too_large"),
    errors.InvalidRequest: (400, "invalid_request"),
    errors.Unprocessable: (422, "validation_error"),
    errors.Unauthorized: (401, "unauthorized"),
    errors.UpstreamFailed: (502, "model_error"),
    errors.Throttled: (429, "rate_limited"),
}
CODE_BY_STATUS = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
# The error answers every route lists, by reference to the envelope's schema, which create_app adds to the document
# once. As `{"model": ErrorEnvelope}` FastAPI would build a serializer for each route and status when the routes are
# defined (seven per route, half of an HTTP function's route set-up), used only to write /openapi.json.
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": _ERROR_CONTENT}
    for status, description in {
        400: "Malformed JSON, bad parameters or an invalid cursor",
        401: "Missing, unknown or revoked API key",
        404: "Not found, or owned by another tenant",
        409: "Conflicts with the current state",
        413: "A block over the size limit",
        422: "The body fails validation",
        429: "A quota or rate limit; Retry-After says when to try again",
    }.items()
}
# A Server-Sent Event as a client (and the OpenAPI document) sees it: `event`, `id` and `data` (JSON text).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "id": {"type": "string"}, "data": {"type": "string"}},
}


_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "missing"}


def request_id(request: Request) -> str:
    return request.state.request_id


def error_response(request: Request, status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "requestId": request_id(request)}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status, code = next(value for kind, value in STATUS_BY_ERROR.items() if isinstance(exc, kind))
    response = error_response(request, status, code, exc.message, exc.details)
    if exc.details and "retryAfterSeconds" in exc.details:
        response.headers["Retry-After"] = str(exc.details["retryAfterSeconds"])
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Malformed JSON and bad query, path or header parameters are 400; a body that fails validation is 422."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    if any(problem["type"] == "json_invalid" for problem in problems):
        return error_response(request, 400, "malformed_json", "the request body is not valid JSON", problems)
    if any(problem["location"] == "body" and problem["type"] in _NOT_AN_OBJECT for problem in problems):
        return error_response(request, 400, "malformed_json", "the request body must be a JSON object", problems)
    if any(not problem["location"].startswith("body") for problem in problems):
        return error_response(request, 400, "invalid_request", "invalid request parameters", problems)
    return error_response(request, 422, "validation_error", "the request body is invalid", problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = CODE_BY_STATUS.get(exc.status_code, "error")
    return error_response(request, exc.status_code, code, str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"request_id": request_id(request)})
    return error_response(request, 500, "internal_error", "internal error; quote the requestId when reporting it")


async def metering_middleware(request: Request, call_next: Any) -> Any:
    """Count the request and the work it did for its tenant, once its answer has been sent in full."""
    usage: Counter[str] = Counter()
    token = metering.current.set(usage)
    try:
        response = await call_next(request)
    finally:
        metering.current.reset(token)
    body = response.body_iterator

    async def body_then_meter() -> Any:
        async for chunk in body:
            yield chunk
        tenant_id = getattr(request.state, "tenant_id", None)
        if tenant_id:
            usage["apiCalls"] += 1
            await run_in_threadpool(metering.write, tenant_id, usage)

    response.body_iterator = body_then_meter()
    return response


def _rate_limit_headers(request: Request, response: Any) -> None:
    """The AIP reference's rate-limit headers on every response: the tenant's window when it is known."""
    rate = getattr(request.state, "rate", None)
    limit = rate.limit if rate else get_settings().default_requests_per_second
    remaining = 0 if response.status_code == 429 else (rate.remaining if rate else limit)
    response.headers["X-RateLimit-Limit"] = str(limit)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(rate.reset if rate else int(time.time()) + 1)


def _log_request(request: Request, status: int, started: float) -> None:
    """One line per request, with the keys CloudWatch Logs Insights and a terminal reader both filter on; `ms` is the
    time to the response's headers (a stream goes on after it)."""
    logger.info(
        "request",
        extra={
            "method": request.method,
            "path": request.url.path,
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "tenant_id": getattr(request.state, "tenant_id", None),
            "request_id": request.state.request_id,
        },
    )


API_DESCRIPTION = """Sessions of context blocks for LLM agents: store, fork, compact and invoke. One session is
reachable through two surfaces, with the same key (`X-API-Key` or `Authorization: Bearer`). Below,
`K="Authorization: Bearer $KEY"` and `J="Content-Type: application/json"`.

**AIP sessions and blocks** (`/v1/aip/...`, camelCase, `{"data", "meta"}` envelope):

```sh
curl -X POST $API/v1/aip/sessions -H "$K" -H "$J" -d '{"name": "Auth", "defaultAgent": "code-assistant"}'
curl -X POST $API/v1/aip/blocks -H "$K" -H "$J" -d '{"sessionId": "sess_...", "type": "note", "content": "Use JWT"}'
curl -X POST $API/v1/aip/sessions/sess_.../fork -H "$K" -H "$J" -d '{"name": "Deep dive", "includeByTag": ["auth"]}'
curl -N -X POST $API/v1/aip/invoke -H "$K" -H "$J" \\
  -d '{"agent": "code-assistant", "prompt": "Go on", "session": "sess_...", "stream": true}'
```

**Agent-runtime sessions** (`/v1/sessions`, snake_case, the Session object itself): a message starts a durable
turn; its steps are events, read as JSON or streamed as Server-Sent Events.

```sh
curl -X POST $API/v1/sessions -H "$K" -H "$J" -d '{"agent_id": "agent_...", "title": "Refactor"}'
curl -X POST $API/v1/sessions/session_.../messages -H "$K" -H "$J" \\
  -d '{"message": {"content": [{"type": "text", "text": "Hello"}]}}'
curl -N $API/v1/sessions/session_.../sse -H "$K"
curl "$API/v1/sessions/session_.../events?since_id=event_..." -H "$K"
```
"""


DOCS_ASSETS = "/docs/assets"
# The pages may load nothing from elsewhere: ReDoc's footer would otherwise fetch its logo from a CDN.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:"
)


def _docs_asset_folder() -> str:
    """fastapi-offline's static folder, found without importing the package: a cold start pays nothing for it."""
    spec = find_spec("fastapi_offline")
    assert spec and spec.submodule_search_locations, "fastapi-offline is a runtime dependency"
    return os.path.join(spec.submodule_search_locations[0], "static")


def _serve_docs_offline(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their scripts served from here (the copies the fastapi-offline package
    ships), so the pages work where no CDN can be reached."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_docs_asset_folder()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            # Swagger UI would otherwise fetch a badge from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page


def _document_error_envelope(app: FastAPI) -> None:
    """The OpenAPI document with the error envelope's schemas, which every route's error answers refer to; built,
    like the rest of the document, when /openapi.json is first asked for."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.encoders import jsonable_encoder
            from pydantic.json_schema import models_json_schema

            from agentctx.schemas import ErrorEnvelope

            document = build()
            _, envelope = models_json_schema(
                [(ErrorEnvelope, "serialization")], ref_template="#/components/schemas/{model}"
            )
            # as FastAPI writes the rest of the document: no null values
            defined = jsonable_encoder(envelope["$defs"], exclude_none=True)
            schemas = document.setdefault("components", {}).setdefault("schemas", {}) | defined
            document["components"]["schemas"] = dict(sorted(schemas.items()))
        return build()

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(*routers: APIRouter) -> FastAPI:
    app = FastAPI(
        title="Agent Context Service",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    _serve_docs_offline(app)
    _document_error_envelope(app)

    # Starlette runs the middleware added last first: request ids are assigned before idempotency replays, which
    # never reach a route, so they are not metered.
    app.middleware("http")(idempotency_middleware)
    app.middleware("http")(metering_middleware)

    @app.middleware("http")
    async def assign_request_id(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        event = request.scope.get("aws.event") or {}
        request.state.request_id = (event.get("requestContext") or {}).get("requestId") or uuid.uuid4().hex
        try:
            response = await call_next(request)
        except Exception as error:  # answered here, not re-raised: the server then keeps the connection open
            response = await _unexpected_error(request, error)
        response.headers["X-Request-Id"] = request.state.request_id
        _rate_limit_headers(request, response)
        _log_request(request, response.status_code, started)
        return response

    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for router in routers:
        app.include_router(router)
    return app
