"""The AIP session API as seed 000 documents it, end to end against moto."""

SEED_SESSION = {"name": "Auth Feature - Q1", "defaultAgent": "code-assistant", "tags": ["project-x", "auth"]}


def create_session(api, **overrides):
    response = api.post("/v1/aip/sessions", json={**SEED_SESSION, **overrides})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def append(api, session_id, *blocks):
    response = api.post(f"/v1/aip/sessions/{session_id}/blocks", json={"blocks": list(blocks)})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def note(text, tags=(), pinned=False, **extra):
    return {"type": "note", "content": text, "tags": list(tags), "pinned": pinned, **extra}


def test_create_session_answers_the_seed_shape(api):
    response = api.post("/v1/aip/sessions", json=SEED_SESSION)

    assert response.status_code == 201
    body = response.json()
    data = body["data"]
    assert data["id"].startswith("sess_") and len(data["id"]) == 5 + 32
    assert data["name"] == "Auth Feature - Q1"
    assert data["defaultAgent"] == "code-assistant"
    assert data["tags"] == ["project-x", "auth"]
    assert data["metrics"] | {} == {
        "totalTokens": 0,
        "maxTokens": 200000,
        "tokensRemainingPct": 100,
        "compactionCount": 0,
        "blockCount": 0,
        "invocationCount": 0,
    }
    assert data["createdAt"].endswith("Z")
    assert body["meta"]["requestId"] == response.headers["X-Request-Id"]


def test_get_session_shows_metrics_blocks_and_pinned_blocks(api):
    session = create_session(api)
    pinned, plain = append(api, session["id"], note("pinned decision", pinned=True), note("a plain note"))

    data = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]

    assert data["blocks"] == [pinned["id"], plain["id"]]
    assert data["pinnedBlocks"] == [pinned["id"]]
    total = pinned["metadata"]["tokenCount"] + plain["metadata"]["tokenCount"]
    assert data["metrics"]["totalTokens"] == total
    assert data["metrics"]["blockCount"] == 2
    assert data["metrics"]["tokensRemainingPct"] == round((200000 - total) * 100 / 200000, 1)
    assert data["updatedAt"] >= data["createdAt"]


def test_list_sessions_pages_with_cursor_and_has_more(api):
    created = [create_session(api, name=f"s{i}")["id"] for i in range(5)]

    first = api.get("/v1/aip/sessions?limit=2").json()
    second = api.get(f"/v1/aip/sessions?limit=2&cursor={first['meta']['nextCursor']}").json()
    third = api.get(f"/v1/aip/sessions?limit=2&cursor={second['meta']['nextCursor']}").json()

    assert first["meta"]["hasMore"] is True and second["meta"]["hasMore"] is True
    assert third["meta"]["hasMore"] is False and third["meta"].get("nextCursor") is None
    listed = [s["id"] for page in (first, second, third) for s in page["data"]]
    assert listed == list(reversed(created))


def test_list_sessions_by_tag_returns_only_tagged_sessions(api):
    tagged = create_session(api, tags=["project-x"])
    create_session(api, tags=["other"])

    data = api.get("/v1/aip/sessions?tag=project-x").json()["data"]

    assert [s["id"] for s in data] == [tagged["id"]]
    assert data[0]["metrics"]["blockCount"] == 0


def test_cursor_from_another_query_is_rejected(api):
    for i in range(3):
        create_session(api, name=f"s{i}", tags=["t"])
    cursor = api.get("/v1/aip/sessions?limit=1").json()["meta"]["nextCursor"]

    response = api.get(f"/v1/aip/sessions?limit=1&tag=t&cursor={cursor}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_tampered_cursor_is_rejected(api):
    for i in range(3):
        create_session(api, name=f"s{i}")
    cursor = api.get("/v1/aip/sessions?limit=1").json()["meta"]["nextCursor"]
    tampered = ("A" if cursor[0] != "A" else "B") + cursor[1:]

    assert api.get(f"/v1/aip/sessions?cursor={tampered}").status_code == 400
    assert api.get("/v1/aip/sessions?cursor=garbage").status_code == 400


def test_fork_copies_blocks_by_tag_with_pinned_and_metrics(api):
    source = create_session(api)
    pinned, auth, other, summary = append(
        api,
        source["id"],
        note("always keep", pinned=True),
        note("jwt details", tags=["authentication"]),
        note("css colours", tags=["ui"]),
        {"type": "summary", "content": "summary of earlier work", "tags": ["ui"]},
    )

    response = api.post(
        f"/v1/aip/sessions/{source['id']}/fork",
        json={"name": "Auth Deep Dive", "includeByTag": ["authentication", "security"], "includePinned": True},
    )

    assert response.status_code == 201
    fork = response.json()["data"]
    assert fork["forkedFrom"] == source["id"] and fork["name"] == "Auth Deep Dive"
    fork_view = api.get(f"/v1/aip/sessions/{fork['id']}").json()["data"]
    copied = [api.get(f"/v1/aip/blocks/{block_id}").json()["data"] for block_id in fork_view["blocks"]]
    assert [block["content"] for block in copied] == ["always keep", "jwt details", "summary of earlier work"]
    expected_tokens = sum(b["metadata"]["tokenCount"] for b in (pinned, auth, summary))
    assert fork["metrics"]["totalTokens"] == fork_view["metrics"]["totalTokens"] == expected_tokens
    assert fork["metrics"]["blockCount"] == 3
    assert fork_view["pinnedBlocks"] == [fork_view["blocks"][0]]
    assert other["id"] not in fork_view["blocks"]
    assert api.get(f"/v1/aip/sessions/{source['id']}").json()["data"]["metrics"]["blockCount"] == 4


def test_fork_excludes_tags_and_can_drop_summaries_and_unforce_pins(api):
    source = create_session(api)
    append(
        api,
        source["id"],
        note("pinned ui", tags=["ui"], pinned=True),
        note("keep", tags=["auth"]),
        {"type": "summary", "content": "old summary"},
    )

    fork = api.post(
        f"/v1/aip/sessions/{source['id']}/fork",
        json={"name": "f", "excludeByTag": ["ui"], "includePinned": False, "includeSummaries": False},
    ).json()["data"]

    copied = [api.get(f"/v1/aip/blocks/{block_id}").json()["data"]["content"] for block_id in fork["blocks"]]
    assert copied == ["keep"]


def test_create_with_from_session_forks(api):
    source = create_session(api)
    append(api, source["id"], note("auth", tags=["auth"]), note("ui", tags=["ui"]), note("pin", pinned=True))

    response = api.post(
        "/v1/aip/sessions", json={"name": "forked", "fromSession": source["id"], "includeByTag": ["auth"]}
    )

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["forkedFrom"] == source["id"]
    assert data["metrics"]["blockCount"] == 2


def test_fork_of_missing_session_is_404_and_creates_nothing(api):
    response = api.post("/v1/aip/sessions", json={"name": "x", "fromSession": "sess_" + "0" * 32})

    assert response.status_code == 404
    assert api.get("/v1/aip/sessions").json()["data"] == []


def test_delete_session_removes_it_and_its_blocks(api):
    session = create_session(api)
    (block,) = append(api, session["id"], note("bye"))

    response = api.delete(f"/v1/aip/sessions/{session['id']}")

    assert response.status_code == 200
    assert response.json()["data"] == {"deleted": True}
    assert api.get(f"/v1/aip/sessions/{session['id']}").status_code == 404
    assert api.get(f"/v1/aip/blocks/{block['id']}").status_code == 404
    assert api.get("/v1/aip/sessions?tag=auth").json()["data"] == []
    assert api.delete(f"/v1/aip/sessions/{session['id']}").status_code == 404


def test_missing_session_answers_404_envelope(api):
    response = api.get("/v1/aip/sessions/sess_abc123")

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and "sess_abc123" in error["message"] and error["requestId"]


def test_malformed_json_is_400_and_creates_nothing(api):
    response = api.post("/v1/aip/sessions", content=b'{"name": ', headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert api.get("/v1/aip/sessions").json()["data"] == []


def test_invalid_body_is_422_with_details(api):
    response = api.post("/v1/aip/sessions", json={"name": "", "tags": "not-a-list"})

    assert response.status_code == 422
    locations = {detail["location"] for detail in response.json()["error"]["details"]}
    assert {"body.name", "body.tags"} <= locations


def test_bad_query_parameter_is_400(api):
    assert api.get("/v1/aip/sessions?limit=0").status_code == 400
    assert api.get("/v1/aip/sessions?limit=abc").status_code == 400


def test_missing_key_is_401(http):
    response = http.get("/v1/aip/sessions")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_bearer_key_is_accepted(api):
    response = api.http.get("/v1/aip/sessions", headers={"Authorization": f"Bearer {api.key}"})

    assert response.status_code == 200


def test_health_needs_no_key(http):
    assert http.get("/health").json() == {"status": "ok"}
