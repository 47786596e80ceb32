"""`Idempotency-Key` on every POST, with Powertools' idempotency persistence layer on its DynamoDB table.

A retry with the same key, caller, path and body gets the first response again (with `Idempotent-Replayed:
true`) and changes nothing; the same key with another body is a 422; a retry while the first is still running is
a 409. Only 2xx answers are kept (24 hours): a refused request may be corrected and sent again under its key.
Streaming answers are not kept, so a streamed invocation sent twice runs twice.
"""

import base64
import hashlib
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from agentctx.idempotency import persistence

HEADER = "Idempotency-Key"
_REPLAYED_HEADERS = ("content-type", "location", "x-invocation-id")


def _caller(request: Request) -> str:
    """Who is asking, before the route's own auth runs: the authorizer's tenant, or a hash of the key sent."""
    event = request.scope.get("aws.event") or {}
    tenant = ((event.get("requestContext") or {}).get("authorizer") or {}).get("tenantId")
    if tenant:
        return f"tenant:{tenant}"
    secret = (
        request.headers.get("x-api-key")
        or request.headers.get("authorization")
        or request.headers.get("x-admin-key", "")
    )
    return "key:" + hashlib.sha256(secret.encode()).hexdigest()


def _error(request: Request, status: int, code: str, message: str) -> JSONResponse:
    from agentctx.api.app import error_response

    return error_response(request, status, code, message)


async def idempotency_middleware(request: Request, call_next: Any) -> Any:
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return await call_next(request)
    if not 1 <= len(key) <= 255:
        return _error(request, 400, "invalid_request", f"{HEADER} must be 1 to 255 characters")
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyItemAlreadyExistsError,
        IdempotencyValidationError,
    )

    body = await request.body()
    data = {
        "key": f"{_caller(request)}|{request.url.path}|{key}",
        "payload": hashlib.sha256(request.url.query.encode() + b"\n" + body).hexdigest(),
    }
    layer = persistence()
    reused = _error(request, 422, "idempotency_key_reused", f"this {HEADER} was used with a different request")
    try:
        layer.save_inprogress(data=data, remaining_time_in_millis=60_000)
    except IdempotencyValidationError:
        return reused
    except IdempotencyItemAlreadyExistsError as exists:
        try:
            record = exists.old_data_record or layer.get_record(data=data)
        except IdempotencyValidationError:
            return reused
        if record is None or record.status != "COMPLETED":
            return _error(request, 409, "request_in_progress", f"a request with this {HEADER} is still running")
        stored = record.response_json_as_dict() or {}
        headers = stored["headers"] | {"Idempotent-Replayed": "true"}
        return Response(base64.b64decode(stored["body"]), status_code=stored["status"], headers=headers)
    response = await call_next(request)
    streamed = response.headers.get("content-type", "").startswith("text/event-stream")
    if streamed or not 200 <= response.status_code < 300:
        layer.delete_record(data=data, exception=RuntimeError(f"status {response.status_code}"))
        return response
    chunks = [chunk async for chunk in response.body_iterator]
    content = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in chunks)
    headers = {name: value for name, value in response.headers.items() if name in _REPLAYED_HEADERS}
    layer.save_success(
        data=data,
        result={"status": response.status_code, "headers": headers, "body": base64.b64encode(content).decode()},
    )
    return Response(content, status_code=response.status_code, headers=dict(response.headers))
