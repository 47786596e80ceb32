"""Every free-form field of every write route, as the OpenAPI document lists them, given arbitrary JSON (lone
surrogates, deep nesting, NaN, large values): either 2xx and every later read answers 2xx, or 4xx and nothing is
stored (no message, event, block, invocation, model, agent or session; so no turn to run).

The fields are read from the document, so a new free-form field on one of these routes is covered without a new
test; a new write route with one fails `test_every_write_route_with_free_form_fields_has_a_base_request` until it
has a base request below."""

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentctx.api.full import full_app
from tests.conftest import OFFLINE_MODEL
from tests.integration.test_request_guards import nested, readable, say, short_streams  # noqa: F401 (autouse)

Path = tuple[str | int, ...]


def free_form_fields(document: dict[str, Any]) -> list[tuple[str, str, Path]]:
    """(method, path, field) for each free-form part of each JSON request body: a schema without a type (`{}`),
    or an object that only has additionalProperties; array items are reached through index 0."""
    schemas = document["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def walk(schema: dict[str, Any], at: Path) -> list[Path]:
        schema = resolve(schema)
        choices = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
        if choices:
            return [field for part in choices if part.get("type") != "null" for field in walk(part, at)]
        kind = schema.get("type")
        if kind is None:
            return [at]
        if kind == "object" and not schema.get("properties"):
            return [at] if schema.get("additionalProperties", False) is not False else []
        if kind == "object":
            return [field for name, part in schema["properties"].items() for field in walk(part, (*at, name))]
        if kind == "array":
            return walk(schema.get("items", {}), (*at, 0))
        return []

    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                found += [(method.upper(), path, field) for field in dict.fromkeys(walk(body["schema"], ()))]
    return found


FIELDS = free_form_fields(full_app().openapi())


@dataclass
class World:
    """What the requests write to and read from: one tenant's agent, model, session (both ids), a counter for
    names that must be unique, and what was stored after the last request (each example starts from it)."""

    api: Any
    agent_id: str
    model_id: str
    session_id: str
    names: Any = itertools.count()
    last: list[Any] | None = None

    @property
    def aip_id(self) -> str:
        return "sess_" + self.session_id[len("session_") :]


Request = tuple[str, dict[str, Any], dict[str, str]]
BASE: dict[tuple[str, str], Callable[[World], Request]] = {
    ("POST", "/v1/aip/blocks"): lambda w: (
        "/v1/aip/blocks",
        {"sessionId": w.aip_id, "type": "event", "content": "e"},
        {},
    ),
    ("POST", "/v1/aip/sessions/{sessionId}/blocks"): lambda w: (
        f"/v1/aip/sessions/{w.aip_id}/blocks",
        {"blocks": [{"type": "event", "content": "e"}]},
        {},
    ),
    ("POST", "/v1/models"): lambda w: ("/v1/models", OFFLINE_MODEL | {"name": f"m{next(w.names)}"}, {}),
    ("PATCH", "/v1/models/{model_id}"): lambda w: (f"/v1/models/{w.model_id}", {"options": {}}, {}),
    ("POST", "/v1/agents"): lambda w: (
        "/v1/agents",
        {"name": f"a{next(w.names)}", "default_model_id": w.model_id, "capabilities": [{"ref": "current_time"}]},
        {},
    ),
    ("PATCH", "/v1/agents/{agent_id}"): lambda w: (
        f"/v1/agents/{w.agent_id}",
        {"capabilities": [{"ref": "current_time"}]},
        {},
    ),
    ("POST", "/v1/sessions"): lambda w: (
        "/v1/sessions",
        {"agent_id": w.agent_id, "capabilities": [{"ref": "current_time"}]},
        {},
    ),
    ("POST", "/v1/sessions/{session_id}/messages"): lambda w: (
        f"/v1/sessions/{w.session_id}/messages",
        say("x", external_actor={"actor_id": "u", "source": "s"}),
        {},
    ),
    ("POST", "/v1/channels/{agent}/sessions/{session_id}/messages"): lambda w: (
        f"/v1/channels/{w.agent_id}/sessions/{w.session_id}/messages",
        say("x", external_actor={"actor_id": "u", "source": "s"}),
        {},
    ),
    ("POST", "/.well-known/aip/invoke"): lambda w: (
        "/.well-known/aip/invoke",
        {"prompt": {"content": "hi"}, "context": {"session_id": w.aip_id}},
        {"X-AIP-Agent": "code-assistant"},
    ),
}


def placed(body: dict[str, Any], field: Path, value: Any) -> dict[str, Any]:
    """A copy of `body` with `value` at `field`, the containers on the way created where the body has none."""
    body = copy.deepcopy(body)
    holder: Any = body
    for step, following in zip(field, field[1:], strict=False):
        empty: Any = {} if isinstance(following, str) else []
        if isinstance(step, int):
            if len(holder) <= step:
                holder.append(empty)
        else:
            holder.setdefault(step, empty)
        holder = holder[step]
    last = field[-1]
    if isinstance(last, int):
        holder[last : last + 1] = [value]
    else:
        holder[last] = value
    return body


def stored(world: World) -> list[Any]:
    """Everything the requests above could write, as the API reads it back (each read must answer 200)."""
    api, sid = world.api, world.session_id
    reads = [
        "/v1/models?limit=100",
        "/v1/agents?limit=100",
        "/v1/sessions?limit=100",
        f"/v1/models/{world.model_id}",
        f"/v1/agents/{world.agent_id}",
        f"/v1/sessions/{sid}/events?limit=1000",
        f"/v1/sessions/{sid}/messages?limit=100",
        f"/v1/aip/sessions/{world.aip_id}/blocks?limit=200&include=content",
        f"/v1/aip/sessions/{world.aip_id}/invocations?limit=100",
    ]
    found = []
    for path in reads:
        response = api.get(path)
        assert response.status_code == 200, (path, response.text[:200])
        found.append(response.json().get("data", response.json()))
    readable(api, sid)  # the session, its events, messages and SSE replay
    return found


TEXT = st.text(st.characters() | st.sampled_from(["\udc00", "\ud83d", "😀", "漢"]), max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=30,
)
VALUES = (
    JSON
    | st.dictionaries(TEXT, JSON, max_size=5)
    | st.builds(nested, st.integers(1, 300))
    | st.builds(lambda n: {"big": "漢" * n}, st.integers(0, 12_000))
)


def test_the_document_lists_the_free_form_fields_of_both_surfaces():
    listed = {(method, path, field) for method, path, field in FIELDS}
    assert ("POST", "/v1/sessions/{session_id}/messages", ("controls", "reasoning")) in listed
    assert ("POST", "/.well-known/aip/invoke", ("prompt", "attachments", 0)) in listed
    assert ("POST", "/v1/aip/blocks", ("content",)) in listed


def test_every_write_route_with_free_form_fields_has_a_base_request():
    assert {(method, path) for method, path, _ in FIELDS} <= set(BASE)


@pytest.fixture
def world(api, code_assistant):  # type: ignore[no-untyped-def]
    model = api.post("/v1/models", json=OFFLINE_MODEL | {"name": "patched"}).json()
    session = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()
    return World(api, code_assistant["agent"]["id"], model["id"], session["id"])


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("method", "path", "field"), FIELDS, ids=[f"{m} {p} {f}" for m, p, f in FIELDS])
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(value=VALUES)
# what used to poison a session, tried in every field whatever the draw
@example(value={"k": "x\udc00y"})
@example(value=["\ud83d"])
@example(value=nested(300))
@example(value={"n": float("nan")})
def test_any_json_in_a_free_form_field_is_stored_and_read_or_refused_whole(world, method, path, field, value):
    url, body, headers = BASE[(method, path)](world)
    before = world.last if world.last is not None else stored(world)

    # json.dumps writes \u escapes (so a lone surrogate goes as valid JSON) and NaN, as a careless client would
    response = world.api.request(
        method,
        url,
        content=json.dumps(placed(body, field, value)),
        headers={"Content-Type": "application/json"} | headers,
    )

    assert response.status_code < 500, response.text[:300]
    after = world.last = stored(world)
    if response.status_code >= 300:
        assert after == before, response.text[:300]
    elif path in ("/v1/models", "/v1/agents", "/v1/sessions"):
        created = response.json()["id"]
        assert world.api.get(f"{path}/{created}").status_code == 200
        if path == "/v1/sessions":
            readable(world.api, created)
