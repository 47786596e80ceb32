"""Every request body in the OpenAPI document carries an example that the body's schema and the route's own model
accept: Swagger UI's "Try it out" starts from it, and a made-up value (`"string"`, a tag drawn from a pattern) is a
request that fails."""

import json
from typing import Any

import pytest
from fastapi.routing import APIRoute
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter

from agentctx.api.app import routers_named
from agentctx.api.full import full_app
from agentctx.api.registry import ROUTERS

DOCUMENT = full_app().openapi()
ROUTES = {
    (method, route.path): route
    for router in routers_named(*ROUTERS)
    for route in router.routes
    if isinstance(route, APIRoute)
    for method in route.methods or ()
}
BODIES = {
    (method.upper(), path): operation["requestBody"]["content"]["application/json"]
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
    if "requestBody" in operation
}


def schema_examples(schema: dict[str, Any]) -> list[Any]:
    """The examples a schema gives, following a reference and the branches of an `anyOf` (an optional body)."""
    if "$ref" in schema:
        return schema_examples(DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    return schema.get("examples", []) + [e for branch in schema.get("anyOf", []) for e in schema_examples(branch)]


def test_the_document_has_request_bodies():
    assert len(BODIES) >= 19


@pytest.mark.parametrize("operation", sorted(BODIES), ids=" ".join)
def test_each_request_body_example_validates_against_its_schema_and_its_model(operation):
    media = BODIES[operation]
    examples = schema_examples(media["schema"])
    assert examples, f"{' '.join(operation)}: no example"

    validator = Draft202012Validator({**media["schema"], "components": DOCUMENT["components"]})
    model = TypeAdapter(ROUTES[operation].body_field.field_info.annotation)  # type: ignore[union-attr]
    for example in examples:
        assert list(validator.iter_errors(example)) == []
        model.validate_python(example)  # the model's own checks too (a fork option needs fromSession, ...)
        assert '"string"' not in json.dumps(example), "a generated placeholder, not an example"
