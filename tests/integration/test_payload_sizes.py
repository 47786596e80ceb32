"""Every buffered answer and every request fits one Lambda invocation (6 MB each way): listings page by bytes, a
request body over the cap is a 413 that changes nothing, and every page's `has_more` agrees with its cursor."""

import json
from typing import Any

import pytest

from agentctx import ids
from agentctx.domain import Block, BlockType, Session, utc_now
from agentctx.payload import REQUEST_BYTES_CAP, RESPONSE_BYTES_BUDGET, payload_bytes
from agentctx.settings import get_settings
from agentctx.wiring import context_store

LAMBDA_PAYLOAD = 6 * 1024 * 1024
# The envelope and each item's id, type and metadata beside the content the budget counts.
ENVELOPE_ALLOWANCE = 64 * 1024


def largest_content() -> str:
    """A note whose content is exactly the largest a block may hold (its size is counted as JSON)."""
    return "x" * (get_settings().max_block_bytes - 2)


def seed_largest_blocks(api, count: int) -> Session:  # type: ignore[no-untyped-def]
    """A session of `count` blocks of the largest size, written through the store (fast: no tokenizer)."""
    now = utc_now()
    session = Session(tenant_id=api.tenant_id, hex=ids.new_hex(), name="large", created_at=now, updated_at=now)
    content = largest_content()
    blocks = [
        Block(session.hex, ids.new_order_key(), BlockType.NOTE, content, 65_536, [], False, 0.5, now)
        for _ in range(count)
    ]
    context_store().sessions.create(session)
    context_store().block_writes.append(api.tenant_id, session.hex, blocks, now)
    return session


def fits_lambda(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text[:300]
    assert payload_bytes(response.text) <= RESPONSE_BYTES_BUDGET + ENVELOPE_ALLOWANCE < LAMBDA_PAYLOAD


def test_listing_largest_blocks_with_content_pages_by_bytes_and_reaches_every_block_once(api):
    session = seed_largest_blocks(api, 60)
    listing = f"/v1/aip/sessions/{session.id}/blocks?include=content&limit=200"

    pages, cursor = [], None
    while True:
        response = api.get(listing + (f"&cursor={cursor}" if cursor else ""))
        fits_lambda(response)
        body = response.json()
        pages.append(body)
        cursor = body["meta"].get("nextCursor")
        if not cursor:
            break

    listed = [block["id"] for page in pages for block in page["data"]]
    assert len(pages) > 1 and all(page["data"] for page in pages)
    assert all(page["meta"]["truncatedByBytes"] and page["meta"]["hasMore"] for page in pages[:-1])
    assert not pages[-1]["meta"]["truncatedByBytes"] and not pages[-1]["meta"]["hasMore"]
    assert sorted(listed) == listed and len(set(listed)) == 60
    assert all(block["content"] == largest_content() for page in pages for block in page["data"])


def test_default_listing_of_largest_blocks_fits_too(api):
    session = seed_largest_blocks(api, 30)
    response = api.get(f"/v1/aip/sessions/{session.id}/blocks?include=content")

    fits_lambda(response)
    assert response.json()["meta"]["truncatedByBytes"] and response.json()["meta"]["nextCursor"]


def test_one_block_over_the_budget_still_lists_alone(api, monkeypatch):
    """A page holds at least one item whatever the budget, so a listing always moves on."""
    monkeypatch.setattr("agentctx.payload.RESPONSE_BYTES_BUDGET", 1000)
    session = seed_largest_blocks(api, 2)
    listing = f"/v1/aip/sessions/{session.id}/blocks?include=content"

    first = api.get(listing).json()
    second = api.get(listing + f"&cursor={first['meta']['nextCursor']}").json()

    assert [len(first["data"]), len(second["data"])] == [1, 1]
    assert first["meta"]["truncatedByBytes"] and not second["meta"]["hasMore"]


def walk(api, url: str, limit: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every page of a snake_case listing, each checked to fit Lambda."""
    pages, cursor = [], None
    while True:
        response = api.get(url, params={"limit": limit} | ({"cursor": cursor} if cursor else {}))
        fits_lambda(response)
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if not cursor:
            return pages


def test_messages_larger_than_one_dynamodb_read_page_on_to_the_last(api, code_assistant):
    """A Query reads at most 1 MB: a page of large messages ends there with a cursor, not with the listing's end."""
    session = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()
    for i in range(7):
        text = f"{i} " + "z" * 190_000
        posted = api.post(
            f"/v1/sessions/{session['id']}/messages", json={"message": {"content": [{"type": "text", "text": text}]}}
        )
        assert posted.status_code == 201, posted.text[:300]

    pages = walk(api, f"/v1/sessions/{session['id']}/messages", 100)

    texts = [message["content"][0]["text"][:2] for page in pages for message in page["data"]]
    assert texts == [f"{i} " for i in range(7)] and len(pages) > 1
    assert pages[0]["truncated_by_bytes"] and not pages[-1]["has_more"]


def test_listing_large_agents_pages_by_bytes(api):
    files = [{"path": f"f{i}.md", "content": "q" * 100_000} for i in range(2)]
    for i in range(20):
        agent = {"name": f"big {i}", "system_prompt": "p" * 100_000, "initial_files": files}
        assert api.post("/v1/agents", json=agent).status_code == 201

    pages = walk(api, "/v1/agents", 100)

    listed = sorted(agent["display_name"] for page in pages for agent in page["data"])
    assert listed == sorted(f"big {i}" for i in range(20))
    assert pages[0]["truncated_by_bytes"] and len(pages) > 1


def largest_blocks(count: int) -> dict[str, Any]:
    return {"blocks": [{"type": "note", "content": largest_content()} for _ in range(count)]}


def test_batch_over_the_request_cap_is_413_naming_the_cap_and_stores_nothing(api):
    session = api.post("/v1/aip/sessions", json={"name": "batch"}).json()["data"]
    batch = largest_blocks(20)
    assert payload_bytes(json.dumps(batch)) > REQUEST_BYTES_CAP

    refused = api.post(f"/v1/aip/sessions/{session['id']}/blocks", json=batch)

    assert refused.status_code == 413, refused.text[:300]
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert f"{REQUEST_BYTES_CAP:,}" in refused.json()["error"]["message"]
    assert api.get(f"/v1/aip/sessions/{session['id']}/blocks").json()["data"] == []
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["blockCount"] == 0


def test_batch_just_under_the_request_cap_is_stored_and_its_answer_fits(api):
    session = api.post("/v1/aip/sessions", json={"name": "batch"}).json()["data"]
    batch = largest_blocks(19)
    assert payload_bytes(json.dumps(batch)) <= REQUEST_BYTES_CAP

    stored = api.post(f"/v1/aip/sessions/{session['id']}/blocks", json=batch)

    assert stored.status_code == 201
    assert payload_bytes(stored.text) < LAMBDA_PAYLOAD


def test_single_request_over_the_cap_is_413(api):
    """Not only batches: an agent with many large initial files is as large a body."""
    files = [{"path": f"f{i}.md", "content": "y" * 400_000} for i in range(13)]

    refused = api.post("/v1/agents", json={"name": "big", "system_prompt": "hi", "initial_files": files})

    assert refused.status_code == 413 and f"{REQUEST_BYTES_CAP:,}" in refused.text
    assert [agent["name"] for agent in api.get("/v1/agents").json()["data"]] == []


@pytest.fixture
def two_of_everything(api, code_assistant) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """At least two items in every listing a tenant can fill quickly, and the path parameters to reach them."""
    agent = code_assistant["agent"]
    aip = api.post("/v1/aip/sessions", json={"name": "one", "defaultAgent": "code-assistant"}).json()["data"]
    api.post("/v1/aip/sessions", json={"name": "two"})
    api.post(f"/v1/aip/sessions/{aip['id']}/blocks", json={"blocks": [{"type": "note", "content": "a"}] * 3})
    for prompt in ("one", "two"):
        api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": prompt, "session": aip["id"]})
    api.post("/v1/agents", json={"name": "Second", "system_prompt": "hi"})
    runtime = api.post(f"/v1/channels/{agent['id']}/sessions").json()
    api.post(f"/v1/channels/{agent['id']}/sessions")
    for text in ("one", "two"):
        message = {"message": {"content": [{"type": "text", "text": text}]}}
        api.post(f"/v1/sessions/{runtime['id']}/messages", json=message)
    return {"sessionId": aip["id"], "session_id": runtime["id"], "agent": agent["id"]}


def list_operations(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Every GET of the OpenAPI document whose answer carries `has_more` (at its top or in its `meta`)."""
    document = app.openapi()
    schemas = document["components"]["schemas"]

    def properties(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema.get("properties", {})

    found = []
    for path, operations in document["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        fields = properties(schema)
        if "has_more" in fields or "hasMore" in properties(fields.get("meta", {})):
            found.append(path)
    return found


def test_every_listing_says_has_more_exactly_when_it_gives_a_cursor(api, app, two_of_everything):
    """Walks the document's listings with a page of one (and without a limit), so a new listing is covered: a
    generic paginator goes on while has_more, with the cursor, and would loop for ever on has_more without one."""
    operations = list_operations(app)
    assert len(operations) >= 14
    for path in operations:
        url = path.format(**two_of_everything)
        for query in ({"limit": 1}, {}):
            response = api.get(url, params=query)
            assert response.status_code == 200, (url, query, response.text[:300])
            body = response.json()
            page = body.get("meta", body)
            has_more, cursor = (
                page.get("has_more", page.get("hasMore")),
                page.get("next_cursor", page.get("nextCursor")),
            )
            assert has_more == (cursor is not None), (url, query, has_more, cursor)


def seed_small_blocks(api, count: int) -> Session:  # type: ignore[no-untyped-def]
    now = utc_now()
    session = Session(tenant_id=api.tenant_id, hex=ids.new_hex(), name="small", created_at=now, updated_at=now)
    blocks = [
        Block(session.hex, ids.new_order_key(), BlockType.NOTE, f"note {n}", 3, ["common"], False, 0.5, now)
        for n in range(count)
    ]
    context_store().sessions.create(session)
    context_store().block_writes.append(api.tenant_id, session.hex, blocks, now)
    return session


@pytest.mark.parametrize(("query", "reads"), [("limit=50", 2), ("limit=200", 3), ("tag=common", 2)])
def test_a_page_of_small_blocks_reads_their_contents_in_few_calls(api, query, reads):
    """The byte budget reads contents a few blocks at a time only while it could be reached: once the first blocks
    show how small they are, the rest of the page is read 100 at a time (BatchGetItem's most)."""
    from tests.integration.bounded_requests.helpers import calls_of

    session = seed_small_blocks(api, 300)

    counted = calls_of(lambda: api.get(f"/v1/aip/sessions/{session.id}/blocks?include=content&{query}"))

    assert len(counted["response"].json()["data"]) == (200 if query == "limit=200" else 50)
    assert counted["detail"] == f"BatchGetItem {reads}, GetItem 1, Query 1"
