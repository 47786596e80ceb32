"""The agent-runtime session surface (seeds 002 and 003): `/v1/sessions` and `/v1/capabilities`."""

import re
from datetime import datetime

import pytest

from tests.conftest import OFFLINE_MODEL

SEED_AGENT_HEX = "0123456789abcdef0123456789abcdef"
# The example request of seed 003, as written.
SEED_REQUEST = {
    "agent_id": "agent_01234567-89ab-cdef-0123-456789abcdef",
    "title": "Research Session",
    "tags": ["research", "web"],
    "model_id": "gpt-4o",
    "capabilities": [
        {"ref": "current_time"},
        {"ref": "web_fetch", "config": {"timeout_ms": 30000}},
    ],
}
HEX32 = r"[0-9a-f]{32}"


@pytest.fixture
def seed_agent(api):  # type: ignore[no-untyped-def]
    """The agent the seed's example names (its id fixed, as an operator would have it), and a model `gpt-4o`."""
    from agentctx.domain import Agent, CapabilityRef, utc_now
    from agentctx.wiring import catalog_service

    default = api.post("/v1/models", json=OFFLINE_MODEL).json()
    gpt = api.post("/v1/models", json=OFFLINE_MODEL | {"name": "GPT-4o", "provider_model_id": "gpt-4o"}).json()
    now = utc_now()
    agent = Agent(
        tenant_id=api.tenant_id,
        hex=SEED_AGENT_HEX,
        name="Researcher",
        slug="researcher",
        system_prompt="You research things.",
        default_model_id=default["id"],
        capabilities=[CapabilityRef("session_file_system", {"max_files": 10})],
        created_at=now,
        updated_at=now,
    )
    catalog_service().store.create_agent(agent)
    return {"agent": agent, "default_model": default, "gpt": gpt}


def is_timestamp(value: str) -> bool:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def test_the_seed_example_request_as_written(api, seed_agent):
    response = api.post(
        "/v1/sessions", json=SEED_REQUEST, headers={"Authorization": f"Bearer {api.key}", "X-API-Key": ""}
    )

    assert response.status_code == 201, response.text
    session = response.json()
    assert re.fullmatch(rf"session_{HEX32}", session["id"])
    assert session["agent_id"] == f"agent_{SEED_AGENT_HEX}"
    assert re.fullmatch(rf"org_{HEX32}", session["organization_id"]) and session["organization_id"] == api.tenant_id
    assert session["title"] == "Research Session"
    assert session["tags"] == ["research", "web"]
    assert session["model_id"] == seed_agent["gpt"]["id"] and re.fullmatch(rf"model_{HEX32}", session["model_id"])
    assert session["capabilities"] == [
        {"ref": "current_time", "config": {}},
        {"ref": "web_fetch", "config": {"timeout_ms": 30000}},
    ]
    assert session["status"] == "started"
    # the agent's session_file_system first, then the session's own
    assert session["features"] == ["file_system", "time", "web"]
    assert session["preview"] is None and session["output_preview"] is None and session["usage"] is None
    assert is_timestamp(session["created_at"]) and is_timestamp(session["updated_at"])
    assert session["started_at"] is None and session["finished_at"] is None
    assert api.get(f"/v1/sessions/{session['id']}").json() == session


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"agent_id": "agent_01933b5a00007000800000000000001"}, "agent_id"),  # 31 hex: malformed
        ({"agent_id": "agent_" + "f" * 32}, "agent_id"),  # well formed, no such agent
        ({"agent_id": "researcher"}, "agent_id"),
        ({"model_id": "model_" + "f" * 32}, "model_id"),
        ({"model_id": "no-such-model"}, "model_id"),
        ({"capabilities": [{"ref": "teleport"}]}, "teleport"),
        ({"capabilities": [{"ref": "web_fetch", "config": {"timeout_ms": "soon"}}]}, "timeout_ms"),
    ],
)
def test_a_bad_reference_is_a_400_naming_it_and_creates_nothing(api, seed_agent, change, named):
    response = api.post("/v1/sessions", json=SEED_REQUEST | change)

    assert response.status_code == 400, response.text
    assert named in response.json()["error"]["message"]
    assert api.get("/v1/sessions").json()["data"] == []
    assert api.get("/v1/aip/sessions").json()["data"] == []


def test_a_missing_agent_id_fails_validation(api, seed_agent):
    body = {key: value for key, value in SEED_REQUEST.items() if key != "agent_id"}
    response = api.post("/v1/sessions", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_session_config_overrides_the_agents_for_that_ref_only(api, seed_agent, code_assistant):
    from agentctx.domain import CapabilityRef
    from agentctx.services.session_agent import merge_capabilities
    from agentctx.wiring import catalog_service

    agent = catalog_service().get_agent(api.tenant_id, code_assistant["agent"]["id"])
    created = api.post(
        "/v1/sessions",
        json={"agent_id": agent.id, "capabilities": [{"ref": "web_fetch", "config": {"max_bytes": 5000}}]},
    ).json()

    session_caps = [CapabilityRef("web_fetch", {"max_bytes": 5000})]
    merged = {cap.ref: cap.config for cap in merge_capabilities(agent, session_caps)}

    assert merged["web_fetch"] == {"timeout_ms": 2000, "max_bytes": 5000}  # the agent's timeout, the session's size
    assert list(merged) == ["current_time", "web_fetch"]
    assert created["features"] == ["time", "web"]
    # the agent itself is unchanged
    assert api.get(f"/v1/agents/{agent.id}").json()["capabilities"][1]["config"] == {
        "timeout_ms": 2000,
        "max_bytes": 100_000,
    }


def test_get_list_by_tags_update_and_delete(api, seed_agent):
    first = api.post("/v1/sessions", json=SEED_REQUEST).json()
    second = api.post("/v1/sessions", json=SEED_REQUEST | {"tags": ["research"], "title": None}).json()

    assert second["title"] is None
    assert {s["id"] for s in api.get("/v1/sessions").json()["data"]} == {first["id"], second["id"]}
    assert [s["id"] for s in api.get("/v1/sessions", params={"tags": ["research", "web"]}).json()["data"]] == [
        first["id"]
    ]

    updated = api.patch(f"/v1/sessions/{second['id']}", json={"title": "Renamed", "tags": ["web"]})
    assert updated.status_code == 200
    assert updated.json()["title"] == "Renamed" and updated.json()["tags"] == ["web"]
    assert {s["id"] for s in api.get("/v1/sessions", params={"tags": "web"}).json()["data"]} == {
        first["id"],
        second["id"],
    }
    assert [s["id"] for s in api.get("/v1/sessions", params={"tags": "research"}).json()["data"]] == [first["id"]]

    deleted = api.delete(f"/v1/sessions/{first['id']}")
    assert deleted.status_code == 204 and deleted.content == b""  # as Everruns answers
    assert api.get(f"/v1/sessions/{first['id']}").status_code == 404
    assert api.delete(f"/v1/sessions/{first['id']}").status_code == 404


def test_list_pages_with_a_cursor(api, seed_agent):
    made = {api.post("/v1/sessions", json=SEED_REQUEST).json()["id"] for _ in range(3)}
    first = api.get("/v1/sessions", params={"limit": 2}).json()
    second = api.get("/v1/sessions", params={"limit": 2, "cursor": first["next_cursor"]}).json()

    assert first["has_more"] and len(first["data"]) == 2
    assert not second["has_more"]
    assert {s["id"] for s in first["data"] + second["data"]} == made


def test_one_session_under_both_surfaces(api, seed_agent, code_assistant):
    runtime = api.post("/v1/sessions", json=SEED_REQUEST).json()
    session_hex = runtime["id"].removeprefix("session_")

    aip = api.get(f"/v1/aip/sessions/sess_{session_hex}")
    assert aip.status_code == 200 and aip.json()["data"]["name"] == "Research Session"

    made_by_aip = api.post("/v1/aip/sessions", json={"name": "From AIP", "defaultAgent": "code-assistant"}).json()
    aip_hex = made_by_aip["data"]["id"].removeprefix("sess_")
    seen = api.get(f"/v1/sessions/session_{aip_hex}").json()
    assert seen["title"] == "From AIP" and seen["agent_id"] == code_assistant["agent"]["id"]
    assert seen["features"] == ["time", "web"]
    assert {s["id"] for s in api.get("/v1/sessions").json()["data"]} == {runtime["id"], f"session_{aip_hex}"}


def test_tenants_do_not_see_each_others_sessions(api, other_api, seed_agent):
    session = api.post("/v1/sessions", json=SEED_REQUEST).json()

    for method, path in [
        ("GET", f"/v1/sessions/{session['id']}"),
        ("PATCH", f"/v1/sessions/{session['id']}"),
        ("DELETE", f"/v1/sessions/{session['id']}"),
        ("POST", f"/v1/sessions/{session['id']}/cancel"),
        ("POST", f"/v1/sessions/{session['id']}/fork"),
        ("GET", f"/v1/sessions/{session['id']}/events"),
        ("GET", f"/v1/sessions/{session['id']}/messages"),
        ("GET", f"/v1/sessions/{session['id']}/sse"),
    ]:
        response = other_api.request(method, path, json={} if method in ("POST", "PATCH") else None)
        assert response.status_code == 404, (method, path)
    sent = other_api.post(
        f"/v1/sessions/{session['id']}/messages", json={"message": {"content": [{"type": "text", "text": "hi"}]}}
    )
    assert sent.status_code == 404
    assert other_api.get("/v1/sessions").json()["data"] == []
    # the other tenant cannot use the first tenant's agent either
    assert other_api.post("/v1/sessions", json=SEED_REQUEST).status_code == 400
    assert api.get(f"/v1/sessions/{session['id']}/events").json()["data"] == []


def test_the_capability_catalogue(api):
    listed = api.get("/v1/capabilities").json()
    by_ref = {capability["ref"]: capability for capability in listed["data"]}

    assert {"current_time", "web_fetch", "session_file_system"} <= set(by_ref)
    files = by_ref["session_file_system"]
    assert files["features"] == ["file_system"]
    assert set(files["tools"]) == {"read_file", "write_file", "list_files", "grep_files", "delete_file"}
    assert files["config_schema"]["properties"]["max_file_bytes"]["default"] == 100_000
    assert by_ref["web_fetch"]["config_schema"]["properties"]["timeout_ms"]["maximum"] == 60_000
    assert api.get("/v1/capabilities/web_fetch").json() == by_ref["web_fetch"]
    assert api.get("/v1/capabilities/teleport").status_code == 404


def test_an_agent_slug_is_derived_when_not_given(api):
    model = api.post("/v1/models", json=OFFLINE_MODEL).json()
    body = {"name": "Release Notes Writer!", "default_model_id": model["id"]}
    first = api.post("/v1/agents", json=body).json()
    second = api.post("/v1/agents", json=body).json()

    assert first["slug"] == "release-notes-writer"
    assert second["slug"].startswith("release-notes-writer-") and second["slug"] != first["slug"]


def test_cancel_answers_cancelled_while_a_turn_waits(aws, app):  # type: ignore[no-untyped-def]
    """No turn worker here: the queued turn is still pending when the cancel comes."""
    from fastapi.testclient import TestClient

    from agentctx.wiring import tenant_service

    tenant = tenant_service().create_tenant("cancel")
    _, key = tenant_service().issue_key(tenant.id)
    with TestClient(app) as http:
        http.headers["Authorization"] = key
        agent = http.post("/v1/agents", json={"name": "waiter", "system_prompt": ""}).json()
        session = http.post("/v1/sessions", json={"agent_id": agent["id"]}).json()
        http.post(
            f"/v1/sessions/{session['id']}/messages", json={"message": {"content": [{"type": "text", "text": "x"}]}}
        )
        cancelled = http.post(f"/v1/sessions/{session['id']}/cancel")
        assert cancelled.json() == {"status": "cancelled", "message": "Turn cancelled successfully"}
