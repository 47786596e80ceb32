"""The MCP tools take the REST API's fields, named and typed as the OpenAPI document gives them: each tool's
arguments are the REST operation's path and query parameters and body, no more and no fewer (a few said here)."""

import json
from pathlib import Path
from typing import Any

import pytest

from agentctx.api.mcp_tools import TOOLS

DOCUMENT = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "openapi.json").read_text())

# tool -> (method, path) of the REST operation it stands for
OPERATIONS = {
    "list_sessions": ("get", "/v1/aip/sessions"),
    "create_session": ("post", "/v1/aip/sessions"),
    "get_session": ("get", "/v1/aip/sessions/{sessionId}"),
    "delete_session": ("delete", "/v1/aip/sessions/{sessionId}"),
    "add_blocks": ("post", "/v1/aip/sessions/{sessionId}/blocks"),
    "list_blocks": ("get", "/v1/aip/sessions/{sessionId}/blocks"),
    "get_blocks": ("get", "/v1/aip/blocks/{blockId}"),
    "update_block": ("patch", "/v1/aip/blocks/{blockId}"),
    "fork_session": ("post", "/v1/aip/sessions/{sessionId}/fork"),
    "compact_session": ("post", "/v1/aip/sessions/{sessionId}/compact"),
    "get_compaction": ("get", "/v1/aip/sessions/{sessionId}/compactions/{compactionId}"),
    "assemble_context": ("post", "/v1/aip/context"),
    "invoke_agent": ("post", "/v1/aip/invoke"),
    "search": ("post", "/v1/aip/search"),
}
# What a tool takes otherwise than its REST operation, and why.
DIFFERENCES: dict[str, tuple[set[str], set[str]]] = {
    # (REST fields the tool does not take, tool fields REST does not have)
    "list_blocks": ({"include"}, set()),  # without content: get_blocks reads contents
    "get_blocks": ({"blockId"}, {"blockIds"}),  # several at once
    "assemble_context": (
        {"session", "context", "enrichmentConfig", "systemPrompt"},
        {"sessionId"} | {"blockIds", "includeByTag", "excludeByTag", "includePinned", "maxTokens"},
    ),  # the context options flat, the session as the other tools name it
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def rest_fields(method: str, path: str) -> dict[str, dict[str, Any]]:
    operation = DOCUMENT["paths"][path][method]
    fields = {parameter["name"]: parameter["schema"] for parameter in operation.get("parameters", [])}
    fields = {name: schema for name, schema in fields.items() if name.lower() not in {"prefer", "idempotency-key"}}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        fields |= _resolve(body).get("properties", {})
    return fields


def _types(schema: dict[str, Any], definitions: dict[str, Any]) -> Any:
    """A property's shape without titles, descriptions and examples, with references followed."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _types(definitions.get(name) or DOCUMENT["components"]["schemas"][name], definitions)
    kept = {
        key: int(value) if isinstance(value, float) and value.is_integer() else value
        for key, value in schema.items()
        if key not in {"title", "description", "examples", "default"}
    }
    for key in ("anyOf", "oneOf", "allOf"):
        if key in kept:
            kept[key] = sorted(json.dumps(_types(part, definitions), sort_keys=True) for part in kept[key])
    if "items" in kept:
        kept["items"] = _types(kept["items"], definitions)
    if "properties" in kept:
        kept["properties"] = {name: _types(value, definitions) for name, value in kept["properties"].items()}
    return kept


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_a_tools_arguments_are_its_rest_operations_fields(tool):
    method, path = OPERATIONS[tool.name]
    rest = rest_fields(method, path)
    schema = tool.arguments.model_json_schema()
    mine = schema["properties"]
    not_taken, added = DIFFERENCES.get(tool.name, (set(), set()))

    assert set(rest) - not_taken == set(mine) - added
    in_path = {name for name in rest if "{" + name + "}" in path}  # a path segment: a string, checked by the service
    for name in set(rest) & set(mine) - in_path:
        assert _types(mine[name], schema.get("$defs", {})) == _types(rest[name], {}), name
