"""The parts of the OpenAPI document that no single route declares: the error answers every route lists, the shape
of a Server-Sent Event, and the error envelope's schemas those answers refer to."""

from typing import Any

from fastapi import FastAPI

from agentctx.payload import REQUEST_BYTES_CAP

# The error answers every route lists, by reference to the envelope's schema, which document_error_envelope adds to
# the document once. As `{"model": ErrorEnvelope}` FastAPI would build a serializer for each route and status when
# the routes are defined (seven per route, half of an HTTP function's route set-up), used only to write /openapi.json.
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": _ERROR_CONTENT}
    for status, description in {
        400: "Malformed JSON, bad parameters or an invalid cursor",
        401: "Missing, unknown or revoked API key",
        404: "Not found, or owned by another tenant",
        409: "Conflicts with the current state; when the conflict passes by itself, Retry-After says when to try again",
        413: (
            f"A block over the size limit, a record over DynamoDB's item limit, or a request body over "
            f"{REQUEST_BYTES_CAP:,} bytes"
        ),
        422: "The body fails validation",
        429: "A quota or rate limit; Retry-After says when to try again",
    }.items()
}
# A Server-Sent Event as a client (and the OpenAPI document) sees it: `event`, `id` and `data` (JSON text).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "id": {"type": "string"}, "data": {"type": "string"}},
}


def document_error_envelope(app: FastAPI) -> None:
    """The OpenAPI document with the error envelope's schemas, which every route's error answers refer to; built,
    like the rest of the document, when /openapi.json is first asked for."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.encoders import jsonable_encoder
            from pydantic.json_schema import models_json_schema

            from agentctx.schemas.base import ErrorEnvelope

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
