"""Another tenant's ids and cursors answer 404 or 400, reveal nothing and change nothing."""

from tests.integration.test_sessions_api import append, create_session, note


def snapshot(api, session_id):
    return api.get(f"/v1/aip/sessions/{session_id}").json()["data"]


def test_every_endpoint_refuses_another_tenants_ids(api, other_api):
    session = create_session(api)
    (block,) = append(api, session["id"], note("secret plan", tags=["auth"]))
    for i in range(3):
        create_session(api, name=f"more {i}")
    before = snapshot(api, session["id"])
    sid, bid = session["id"], block["id"]

    attempts = [
        ("GET", f"/v1/aip/sessions/{sid}", None),
        ("DELETE", f"/v1/aip/sessions/{sid}", None),
        ("POST", f"/v1/aip/sessions/{sid}/fork", {"name": "stolen"}),
        ("POST", "/v1/aip/sessions", {"name": "stolen", "fromSession": sid}),
        ("POST", "/v1/aip/blocks", {"sessionId": sid, "type": "note", "content": "injected"}),
        ("POST", f"/v1/aip/sessions/{sid}/blocks", {"blocks": [note("injected")]}),
        ("GET", f"/v1/aip/sessions/{sid}/blocks", None),
        ("GET", f"/v1/aip/blocks/{bid}", None),
        ("PATCH", f"/v1/aip/blocks/{bid}", {"pinned": True}),
        ("DELETE", f"/v1/aip/blocks/{bid}", None),
    ]
    for method, path, body in attempts:
        response = other_api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "secret plan" not in response.text

    assert snapshot(api, sid) == before
    assert other_api.get("/v1/aip/sessions").json()["data"] == []
    assert other_api.get("/v1/aip/sessions?tag=project-x").json()["data"] == []


def test_cursors_from_another_tenant_or_query_are_refused(api, other_api):
    session = create_session(api)
    append(api, session["id"], *[note(f"n{i}") for i in range(3)])
    for i in range(3):
        create_session(api, name=f"more {i}")
        create_session(other_api, name=f"theirs {i}")
    session_cursor = api.get("/v1/aip/sessions?limit=1").json()["meta"]["nextCursor"]
    block_cursor = api.get(f"/v1/aip/sessions/{session['id']}/blocks?limit=1").json()["meta"]["nextCursor"]
    other_session = other_api.get("/v1/aip/sessions?limit=1").json()["data"][0]["id"]

    assert other_api.get(f"/v1/aip/sessions?limit=1&cursor={session_cursor}").status_code == 400
    assert other_api.get(f"/v1/aip/sessions/{other_session}/blocks?cursor={block_cursor}").status_code == 400
    assert api.get(f"/v1/aip/sessions/{session['id']}/blocks?cursor={session_cursor}").status_code == 400
    assert api.get(f"/v1/aip/sessions?cursor={block_cursor}").status_code == 400
    assert api.get(f"/v1/aip/sessions/{session['id']}/blocks?limit=1&tag=x&cursor={block_cursor}").status_code == 400
