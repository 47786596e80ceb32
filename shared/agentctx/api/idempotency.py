"""`Idempotency-Key` on every POST, with Powertools' idempotency persistence layer on its DynamoDB table.

The caller is authenticated first (a revoked key gets no replay). A retry with the same key, caller, path and body
(the same JSON, whatever its key order or spacing) gets the first response again (with `Idempotent-Replayed:
true`) and changes nothing; the same key with another body is a 422; a retry while the first is still running is a
409. Only 2xx answers are kept (24 hours): a refused or failed (5xx) request may be sent again under its key.
Streaming answers are not kept, so a streamed invocation sent twice runs twice. An answer too large for one item is
kept compressed; one too large even then is not kept: its replay is a 409 `answer_not_kept` saying it was applied.
"""

import base64
import gzip
import hashlib
import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from agentctx.api.envelope import error_response
from agentctx.idempotency import persistence

HEADER = "Idempotency-Key"
# An answer's bytes a record keeps as they are: base64 makes them 4/3 as many, within DynamoDB's 400 KB item.
KEPT_BYTES = 280_000
_REPLAYED_HEADERS = ("content-type", "location", "x-invocation-id")


def _authenticated_caller(request: Request) -> str | None:
    """Who is asking, checked before anything is replayed: the authorizer's tenant, the tenant of a valid key, or
    the operator on the admin API; None when the request carries no valid credentials (the route then refuses it,
    and nothing is replayed to it)."""
    from agentctx.errors import Unauthorized
    from agentctx.services.tenants import admin_key_matches, api_key_from
    from agentctx.settings import get_settings
    from agentctx.wiring import tenant_service

    event = request.scope.get("aws.event") or {}
    tenant = ((event.get("requestContext") or {}).get("authorizer") or {}).get("tenantId")
    if tenant:
        return f"tenant:{tenant}"
    if request.url.path.startswith("/v1/admin/"):
        admin = admin_key_matches(request.headers.get("x-admin-key"), get_settings().admin_key_sha256)
        return "admin" if admin else None
    key = api_key_from(request.headers.get("x-api-key"), request.headers.get("authorization"))
    try:
        return "tenant:" + tenant_service().authenticate(key)
    except Unauthorized:
        return None


def _canonical(body: bytes) -> bytes:
    """The body as retries are compared: parsed JSON with sorted keys, compact, so the same JSON written another way
    (keys in another order, other spacing) is the same request; a body that is not JSON, as sent."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return body


async def idempotency_middleware(request: Request, call_next: Any) -> Any:
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return await call_next(request)
    if not 1 <= len(key) <= 255:
        return error_response(request, 400, "invalid_request", f"{HEADER} must be 1 to 255 characters")
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyItemAlreadyExistsError,
        IdempotencyValidationError,
    )

    caller = _authenticated_caller(request)
    if caller is None:
        return await call_next(request)
    body = await request.body()
    data = {
        "key": f"{caller}|{request.url.path}|{key}",
        "payload": hashlib.sha256(request.url.query.encode() + b"\n" + _canonical(body)).hexdigest(),
    }
    layer = persistence()
    reused = error_response(request, 422, "idempotency_key_reused", f"this {HEADER} was used with a different request")
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
            running = f"a request with this {HEADER} is still running"
            return error_response(request, 409, "request_in_progress", running, {"retryAfterSeconds": 1})
        stored = record.response_json_as_dict() or {}
        if "body" not in stored:
            applied = (
                f"the request with this {HEADER} was applied (status {stored['status']}), but its answer was too "
                "large to keep for a replay: read the result instead"
            )
            return error_response(request, 409, "answer_not_kept", applied)
        content = base64.b64decode(stored["body"])
        if stored.get("encoding") == "gzip":
            content = gzip.decompress(content)
        headers = stored["headers"] | {"Idempotent-Replayed": "true"}
        return Response(content, status_code=stored["status"], headers=headers)
    try:
        response = await call_next(request)
    except BaseException as error:  # a 500: the key is released, so the request may be sent again under it
        layer.delete_record(data=data, exception=error if isinstance(error, Exception) else RuntimeError("aborted"))
        raise
    streamed = response.headers.get("content-type", "").startswith("text/event-stream")
    if streamed or not 200 <= response.status_code < 300:
        layer.delete_record(data=data, exception=RuntimeError(f"status {response.status_code}"))
        return response
    chunks = [chunk async for chunk in response.body_iterator]
    content = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in chunks)
    headers = {name: value for name, value in response.headers.items() if name in _REPLAYED_HEADERS}
    layer.save_success(data=data, result=_kept(response.status_code, headers, content))
    return Response(content, status_code=response.status_code, headers=dict(response.headers))


def _kept(status: int, headers: dict[str, str], content: bytes) -> dict[str, Any]:
    """The answer as its record keeps it: whole, compressed when it would not fit in one item, or (when even that
    would not) its status only, so the request is still never run twice."""
    kept: dict[str, Any] = {"status": status, "headers": headers}
    if len(content) <= KEPT_BYTES:
        return kept | {"body": base64.b64encode(content).decode()}
    packed = gzip.compress(content, compresslevel=6)
    if len(packed) <= KEPT_BYTES:
        return kept | {"body": base64.b64encode(packed).decode(), "encoding": "gzip"}
    return kept
