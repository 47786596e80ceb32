"""What runs around every request: its id, rate-limit headers and log line; a body too large for Lambda refused;
idempotent replays; usage metering."""

import time
import uuid
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from agentctx import metering
from agentctx.api.envelope import error_response
from agentctx.api.error_handlers import unexpected_error
from agentctx.api.idempotency import idempotency_middleware
from agentctx.observability import logger
from agentctx.payload import REQUEST_BYTES_CAP, payload_bytes
from agentctx.settings import get_settings
from agentctx.wiring import usage_recorder


async def _write_usage(request: Request, usage: Counter[str]) -> None:
    tenant_id = getattr(request.state, "tenant_id", None)
    if tenant_id:
        usage["apiCalls"] += 1
        await run_in_threadpool(lambda: usage_recorder().write(tenant_id, usage))


async def metering_middleware(request: Request, call_next: Any) -> Any:
    """Count the request and the work it did for its tenant, once its answer has been sent in full, or once it
    failed (which also releases a monthly-token hold it took)."""
    usage: Counter[str] = Counter()
    token = metering.current.set(usage)
    try:
        response = await call_next(request)
    except Exception:
        await _write_usage(request, usage)
        raise
    finally:
        metering.current.reset(token)
    body = response.body_iterator

    async def body_then_meter() -> Any:
        async for chunk in body:
            yield chunk
        await _write_usage(request, usage)

    response.body_iterator = body_then_meter()
    return response


async def request_size_guard(request: Request, call_next: Any) -> Any:
    """Refuse (413) a body larger than Lambda could be sent, before any route reads or writes anything: locally
    nothing else would stop it, and in AWS it could never arrive."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > REQUEST_BYTES_CAP:
        return _too_large(request, declared)
    body = await request.body()
    size = len(body) if len(body) > REQUEST_BYTES_CAP else payload_bytes(body.decode(errors="replace"))
    if size > REQUEST_BYTES_CAP:
        return _too_large(request, size)
    return await call_next(request)


def _too_large(request: Request, size: int) -> Any:
    return error_response(
        request,
        413,
        "payload_too_large",
        f"the request body is {size:,} bytes as Lambda carries it; at most {REQUEST_BYTES_CAP:,} are allowed",
        {"limitBytes": REQUEST_BYTES_CAP, "sizeBytes": size},
    )


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


async def assign_request_id(request: Request, call_next: Any) -> Any:
    """The request's id (API Gateway's when there is one), then its answer with the id, rate-limit headers and a
    log line."""
    started = time.perf_counter()
    event = request.scope.get("aws.event") or {}
    request.state.request_id = (event.get("requestContext") or {}).get("requestId") or uuid.uuid4().hex
    try:
        response = await call_next(request)
    except Exception as error:  # answered here, not re-raised: the server then keeps the connection open
        response = await unexpected_error(request, error)
    response.headers["X-Request-Id"] = request.state.request_id
    _rate_limit_headers(request, response)
    _log_request(request, response.status_code, started)
    return response


def add_middlewares(app: FastAPI) -> None:
    # Starlette runs the middleware added last first: request ids are assigned before a body too large is refused
    # and before idempotency replays, which never reach a route, so neither is metered.
    app.middleware("http")(idempotency_middleware)
    app.middleware("http")(metering_middleware)
    app.middleware("http")(request_size_guard)
    app.middleware("http")(assign_request_id)
