"""`/v1/models` and `/v1/agents`: snake_case resources with prefixed 32-hex ids, validated references."""

import re

from tests.conftest import OFFLINE_MODEL


def create_model(api, **overrides):
    response = api.post("/v1/models", json={**OFFLINE_MODEL, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def create_agent(api, model_id, **overrides):
    body = {"name": "Helper", "slug": "helper", "default_model_id": model_id, **overrides}
    return api.post("/v1/agents", json=body)


def test_model_lifecycle(api):
    model = create_model(api, options={"temperature": 0.2})

    assert re.fullmatch(r"model_[0-9a-f]{32}", model["id"])
    assert model["provider"] == "offline" and model["options"] == {"temperature": 0.2}
    assert api.get(f"/v1/models/{model['id']}").json() == model
    updated = api.patch(f"/v1/models/{model['id']}", json={"name": "renamed", "max_output_tokens": 2048}).json()
    assert (
        updated["name"] == "renamed"
        and updated["max_output_tokens"] == 2048
        and updated["created_at"] == model["created_at"]
    )
    listed = api.get("/v1/models").json()
    assert listed["data"][1:] == [updated] and not listed["has_more"] and listed["next_cursor"] is None
    assert listed["data"][0]["source"] == "predefined"  # the organization's built-in default model comes first
    assert api.delete(f"/v1/models/{model['id']}").json() == {"id": model["id"], "deleted": True}
    assert api.get(f"/v1/models/{model['id']}").status_code == 404


def test_model_output_must_fit_its_window(api):
    assert api.post("/v1/models", json={**OFFLINE_MODEL, "max_output_tokens": 300_000}).status_code == 422
    model = create_model(api)
    assert api.patch(f"/v1/models/{model['id']}", json={"context_window": 4_000}).status_code == 400


def test_agent_lifecycle_and_slug_resolution(api):
    model = create_model(api)

    response = create_agent(api, model["id"], capabilities=[{"ref": "web_fetch", "config": {"timeout_ms": 3000}}])

    assert response.status_code == 201
    agent = response.json()
    assert re.fullmatch(r"agent_[0-9a-f]{32}", agent["id"])
    assert agent["capabilities"] == [{"ref": "web_fetch", "config": {"timeout_ms": 3000, "max_bytes": 100_000}}]
    renamed = api.patch(f"/v1/agents/{agent['id']}", json={"slug": "helper-2"}).json()
    assert renamed["slug"] == "helper-2"
    assert create_agent(api, model["id"]).status_code == 201  # the old slug is free again
    assert api.delete(f"/v1/agents/{agent['id']}").status_code == 204
    assert [a["slug"] for a in api.get("/v1/agents").json()["data"]] == ["helper"]


def test_duplicate_slug_is_409(api):
    model = create_model(api)
    create_agent(api, model["id"])

    response = create_agent(api, model["id"])

    assert response.status_code == 409 and "helper" in response.json()["error"]["message"]


def test_unknown_model_or_capability_is_400_naming_it(api):
    model = create_model(api)

    missing_model = create_agent(api, "model_" + "0" * 32)
    missing_capability = create_agent(api, model["id"], capabilities=[{"ref": "teleport"}])
    bad_config = create_agent(api, model["id"], capabilities=[{"ref": "web_fetch", "config": {"timeout_ms": 1}}])

    assert missing_model.status_code == 400 and "model_" + "0" * 32 in missing_model.json()["error"]["message"]
    assert missing_capability.status_code == 400 and "teleport" in missing_capability.json()["error"]["message"]
    assert bad_config.status_code == 400 and "timeout_ms" in bad_config.json()["error"]["message"]
    assert api.get("/v1/agents").json()["data"] == []


def test_model_in_use_cannot_be_deleted(api):
    model = create_model(api)
    create_agent(api, model["id"])

    response = api.delete(f"/v1/models/{model['id']}")

    assert response.status_code == 409 and "helper" in response.json()["error"]["message"]


def test_another_tenants_models_and_agents_are_404(api, other_api):
    model = create_model(api)
    agent = create_agent(api, model["id"]).json()

    for method, path in [
        ("GET", f"/v1/models/{model['id']}"),
        ("PATCH", f"/v1/models/{model['id']}"),
        ("DELETE", f"/v1/models/{model['id']}"),
        ("GET", f"/v1/agents/{agent['id']}"),
        ("PATCH", f"/v1/agents/{agent['id']}"),
        ("DELETE", f"/v1/agents/{agent['id']}"),
    ]:
        response = other_api.request(method, path, json={"name": "x"} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
    assert other_api.post("/v1/aip/invoke", json={"agent": "helper", "prompt": "hi"}).status_code == 404
    assert create_agent(other_api, model["id"]).status_code == 400
    assert [m["source"] for m in other_api.get("/v1/models").json()["data"]] == ["predefined"]


def test_a_bad_prompt_cache_option_is_refused_when_the_model_is_written(api):
    bad = OFFLINE_MODEL | {"options": {"prompt_cache": {"ttl": "2h"}}}

    created = api.post("/v1/models", json=bad)
    good = api.post("/v1/models", json=OFFLINE_MODEL | {"options": {"prompt_cache": {"ttl": "1h"}}}).json()
    patched = api.patch(f"/v1/models/{good['id']}", json={"options": {"prompt_cache": {"min_tokens": 0}}})

    assert created.status_code == patched.status_code == 422
    assert "prompt_cache.ttl" in created.text and "prompt_cache.min_tokens" in patched.text
    assert api.get(f"/v1/models/{good['id']}").json()["options"] == {"prompt_cache": {"ttl": "1h"}}
