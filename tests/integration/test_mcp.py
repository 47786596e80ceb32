"""The MCP surface through the official `mcp` client over real HTTP (uvicorn on loopback, the app `make serve`
runs), on both protocol revisions: discovery, every tool, the session resource, bad input, a revoked key, tenant
isolation, and writes read back through the other surface."""

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, embedded_aws
from tests.live import serve_with_consumers

REVISIONS = ["2026-07-28", "legacy"]  # legacy: initialize, which negotiates 2025-11-25
TOOL_NAMES = [
    "list_sessions",
    "create_session",
    "get_session",
    "delete_session",
    "add_blocks",
    "list_blocks",
    "get_blocks",
    "update_block",
    "fork_session",
    "compact_session",
    "get_compaction",
    "assemble_context",
    "invoke_agent",
    "search",
]


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, str]]:
    yield from embedded_aws()


@pytest.fixture(scope="module")
def served(aws, app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serve_with_consumers(app, aws, {"CompactionQueue": "CompactionFunction"}) as url:
        yield url


def with_client(url: str, key: str, revision: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `work(client)` with the official client connected to the service's /mcp under `key`."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def run() -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=revision) as client:
            return await work(client)

    return asyncio.run(run())


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


@pytest.mark.parametrize("revision", REVISIONS)
def test_discovery_lists_every_tool_in_a_fixed_order_with_the_rest_models_schemas(served, api, revision):
    async def work(client: Any) -> Any:
        return client.protocol_version, (await client.list_tools()).tools

    version, tools = with_client(served, api.key, revision, work)

    assert version == ("2026-07-28" if revision == "2026-07-28" else "2025-11-25")
    assert [tool.name for tool in tools] == TOOL_NAMES
    schemas = {tool.name: tool.input_schema for tool in tools}
    assert {"sessionId", "blocks"} <= set(schemas["add_blocks"]["properties"])
    assert {"sessionId", "targetTokens", "preservePinned", "preserveRecent"} <= set(
        schemas["compact_session"]["properties"]
    )


@pytest.mark.parametrize("revision", REVISIONS)
def test_every_tool_through_the_client_and_writes_read_back_through_rest(served, api, code_assistant, revision):
    async def work(client: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        created = data(await client.call_tool("create_session", {"name": "from mcp", "tags": ["mcp"]}))
        session = created["id"]
        added = data(
            await client.call_tool(
                "add_blocks",
                {
                    "sessionId": session,
                    "blocks": [
                        {"type": "note", "content": "decision: use DynamoDB on-demand", "tags": ["infra"]},
                        {"type": "conversation", "content": [{"role": "user", "content": "what did we decide?"}]},
                    ],
                },
            )
        )
        first = added["data"][0]["id"]
        seen["added"] = added
        seen["listed"] = data(await client.call_tool("list_sessions", {"limit": 5}))
        seen["got"] = data(await client.call_tool("get_session", {"sessionId": session}))
        seen["blocks"] = data(await client.call_tool("list_blocks", {"sessionId": session, "tag": "infra"}))
        seen["contents"] = data(await client.call_tool("get_blocks", {"blockIds": [first]}))
        seen["pinned"] = data(await client.call_tool("update_block", {"blockId": first, "pinned": True}))
        seen["fork"] = data(
            await client.call_tool("fork_session", {"sessionId": session, "name": "fork", "includeByTag": ["infra"]})
        )
        seen["context"] = data(
            await client.call_tool("assemble_context", {"sessionId": session, "prompt": "decide", "maxTokens": 500})
        )
        seen["answer"] = data(
            await client.call_tool(
                "invoke_agent", {"agent": "code-assistant", "prompt": "Summarise", "session": session}
            )
        )
        job = data(await client.call_tool("compact_session", {"sessionId": session, "targetTokens": 10}))
        seen["job"] = data(await client.call_tool("get_compaction", {"sessionId": session, "compactionId": job["id"]}))
        seen["session"] = session
        seen["deleted"] = data(await client.call_tool("delete_session", {"sessionId": seen["fork"]["id"]}))
        return seen

    seen = with_client(served, api.key, revision, work)

    session = seen["session"]
    listing = {"include": "content", "includeCompacted": "true"}
    rest_blocks = api.get(f"/v1/aip/sessions/{session}/blocks", params=listing).json()["data"]
    by_id = {block["id"]: block for block in rest_blocks}
    first, second = (by_id[block["id"]] for block in seen["added"]["data"])
    assert first["content"] == "decision: use DynamoDB on-demand" and first["metadata"]["pinned"]
    assert second["content"] == [{"role": "user", "content": "what did we decide?"}]
    rest_session = api.get(f"/v1/aip/sessions/{session}").json()["data"]
    assert set(seen["got"]) == set(rest_session) and seen["got"]["name"] == rest_session["name"] == "from mcp"
    assert session in [item["id"] for item in seen["listed"]["data"]]
    assert [block["id"] for block in seen["blocks"]["data"]] == [seen["added"]["data"][0]["id"]]
    assert seen["contents"]["data"][0]["content"] == "decision: use DynamoDB on-demand"
    assert seen["pinned"]["metadata"]["pinned"] is True
    assert seen["context"]["blockIds"] and seen["context"]["tokenCount"] <= 500
    assert seen["answer"]["status"] == "completed" and seen["answer"]["output"].startswith("Offline answer")
    assert seen["job"]["id"] and seen["job"]["status"] in ("queued", "running", "completed")
    assert seen["deleted"] == {"deleted": True}
    assert api.get(f"/v1/aip/sessions/{seen['fork']['id']}").status_code == 404


def test_the_search_tool_answers_as_rest_and_reaches_only_the_callers_blocks(served, api, other_api, index_blocks):
    mine = api.post("/v1/aip/sessions", json={"name": "mine"}).json()["data"]["id"]
    theirs = other_api.post("/v1/aip/sessions", json={"name": "theirs"}).json()["data"]["id"]
    for caller, session in ((api, mine), (other_api, theirs)):
        block = {"type": "note", "content": "The nightly export fails with ERR_QUOTA_7731 on the archive bucket."}
        assert caller.post(f"/v1/aip/sessions/{session}/blocks", json={"blocks": [block]}).status_code == 201
    index_blocks()
    query = {"query": "ERR_QUOTA_7731 nightly export"}

    async def work(client: Any) -> tuple[dict[str, Any], Any]:
        found = data(await client.call_tool("search", query))
        foreign = await client.call_tool("search", {**query, "sessions": [theirs]})
        return found, foreign

    found, foreign = with_client(served, api.key, "legacy", work)

    rest = api.post("/v1/aip/search", json=query).json()["data"]
    assert [r["sessionId"] for r in found["results"]] == [r["sessionId"] for r in rest["results"]] == [mine]
    assert found["results"][0]["blockId"] == rest["results"][0]["blockId"] and found["searchMode"] == "hybrid"
    assert foreign.is_error and "not found" in foreign.content[0].text


@pytest.mark.parametrize("revision", REVISIONS)
def test_the_session_resource_is_its_assembled_context(served, api, revision):
    session = api.post("/v1/aip/sessions", json={"name": "resource"}).json()["data"]["id"]
    api.post(f"/v1/aip/sessions/{session}/blocks", json={"blocks": [{"type": "note", "content": "remember me"}]})

    async def work(client: Any) -> Any:
        listed = await client.list_resources()
        templates = await client.list_resource_templates()
        read = await client.read_resource(f"agentctx://sessions/{session}")
        return listed, templates, read

    listed, templates, read = with_client(served, api.key, revision, work)

    assert f"agentctx://sessions/{session}" in [str(resource.uri) for resource in listed.resources]
    assert [template.uri_template for template in templates.resource_templates] == ["agentctx://sessions/{id}"]
    assert "remember me" in read.contents[0].text and "the session's context" not in read.contents[0].text


@pytest.mark.parametrize("revision", REVISIONS)
def test_bad_arguments_and_foreign_sessions_are_tool_errors_like_rest(served, api, other_api, revision):
    theirs = other_api.post("/v1/aip/sessions", json={"name": "theirs"}).json()["data"]["id"]
    rest = api.get(f"/v1/aip/sessions/{theirs}").json()["error"]

    async def work(client: Any) -> list[Any]:
        return [
            await client.call_tool("add_blocks", {"sessionId": theirs, "blocks": "nope"}),
            await client.call_tool("get_session", {"sessionId": theirs}),
            await client.call_tool("add_blocks", {"sessionId": theirs, "blocks": [{"type": "note", "content": "x"}]}),
            await client.call_tool("delete_session", {"sessionId": theirs}),
        ]

    bad, foreign, write, delete = with_client(served, api.key, revision, work)

    assert bad.is_error and "blocks" in bad.content[0].text
    rest_write = api.post(f"/v1/aip/sessions/{theirs}/blocks", json={"blocks": [{"type": "note", "content": "x"}]})
    for result, answered in ((foreign, rest), (write, rest_write.json()["error"])):
        assert result.is_error and result.structured_content["error"] == {"code": "not_found"} | {
            key: answered[key] for key in ("message",)
        }
    assert delete.is_error and delete.structured_content["error"]["code"] == "not_found"
    assert other_api.get(f"/v1/aip/sessions/{theirs}").json()["data"]["metrics"]["blockCount"] == 0


def test_a_missing_or_revoked_key_is_refused_as_on_rest(served, api, monkeypatch):
    from agentctx.wiring import tenant_service

    monkeypatch.setattr(tenant_service(), "cache_seconds", 0)  # each request looks its key up
    admin = {"X-Admin-Key": ADMIN_KEY}
    issued = api.post(f"/v1/admin/tenants/{api.tenant_id}/keys", headers=admin).json()["data"]
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

    def listed(key: str | None) -> httpx.Response:
        sent = headers | ({"X-API-Key": key} if key else {})
        return httpx.post(f"{served}/mcp", json=body, headers=sent)

    before = listed(issued["key"])
    api.delete(f"/v1/admin/tenants/{api.tenant_id}/keys/{issued['id']}", headers=admin)
    after, missing = listed(issued["key"]), listed(None)
    rest = httpx.get(f"{served}/v1/aip/sessions", headers={"X-API-Key": issued["key"]})

    assert before.status_code == 200 and len(before.json()["result"]["tools"]) == len(TOOL_NAMES)
    assert after.status_code == rest.status_code == 401 and after.json()["error"] == rest.json()["error"] | {
        "requestId": after.json()["error"]["requestId"]
    }
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"


def test_an_unknown_host_is_refused_by_the_sdks_rebinding_protection(served, api):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {api.key}",
        "Host": "evil.example",
    }

    assert httpx.post(f"{served}/mcp", json=body, headers=headers).status_code == 421


def test_mcp_calls_are_metered_as_the_rest_calls_they_stand_for(served, api):
    from agentctx.metering import today
    from agentctx.wiring import usage_store

    session = api.post("/v1/aip/sessions", json={"name": "metered"}).json()["data"]["id"]
    block = {"type": "note", "content": "the same note, twice over " * 20}

    def counted(previous: dict[str, int], calls: int) -> dict[str, int]:
        """The tenant's counts once `calls` more requests are written (each is, once its answer has been sent)."""
        for _ in range(200):
            counts = usage_store().totals(api.tenant_id, today())
            now = {name: counts.get(name, 0) for name in ("apiCalls", "storedTokens")}
            stored = now["storedTokens"] > previous.get("storedTokens", 0) or not calls
            if now["apiCalls"] >= previous.get("apiCalls", 0) + calls and stored:
                return now
            threading.Event().wait(0.01)
        raise AssertionError("the requests were never metered")

    async def work(client: Any) -> None:
        data(await client.call_tool("add_blocks", {"sessionId": session, "blocks": [block]}))

    start = counted({}, 0)
    httpx.post(f"{served}/v1/aip/sessions/{session}/blocks", json={"blocks": [block]}, headers={"X-API-Key": api.key})
    after_rest = counted(start, 1)
    with_client(served, api.key, "2026-07-28", work)  # one MCP request: this revision has no handshake
    after_mcp = counted(after_rest, 1)

    assert after_mcp["storedTokens"] - after_rest["storedTokens"] == after_rest["storedTokens"] - start["storedTokens"]
    assert after_rest["storedTokens"] > start["storedTokens"]


def run_docs_example(url: str, key: str) -> str:
    """docs/mcp.md's Python example, run as written against `url` with `key`; what it printed."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "mcp.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    environment = os.environ | {"AGENTCTX_MCP_URL": f"{url}/mcp", "AGENTCTX_KEY": key}
    ran = subprocess.run([sys.executable, "-c", example], env=environment, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def test_the_python_example_in_the_docs_runs_as_written(served, api):
    assert "Use DynamoDB on-demand." in run_docs_example(served, api.key)


@pytest.mark.parametrize("revision", REVISIONS)
def test_no_tool_or_resource_reaches_another_tenants_session_whatever_ids_it_is_given(
    served, api, other_api, code_assistant, revision
):
    theirs = other_api.post("/v1/aip/sessions", json={"name": "theirs", "tags": ["secret"]}).json()["data"]["id"]
    (block,) = other_api.post(
        f"/v1/aip/sessions/{theirs}/blocks", json={"blocks": [{"type": "note", "content": "their secret"}]}
    ).json()["data"]
    job = other_api.post(
        f"/v1/aip/sessions/{theirs}/compact", json={"targetTokens": 0}, headers={"Prefer": "respond-async"}
    ).json()["data"]
    before = other_api.get(f"/v1/aip/sessions/{theirs}/blocks", params={"includeCompacted": "true"}).json()["data"]
    calls = [
        ("get_session", {"sessionId": theirs}),
        ("delete_session", {"sessionId": theirs}),
        ("add_blocks", {"sessionId": theirs, "blocks": [{"type": "note", "content": "planted"}]}),
        ("list_blocks", {"sessionId": theirs}),
        ("get_blocks", {"blockIds": [block["id"]]}),
        ("update_block", {"blockId": block["id"], "pinned": True}),
        ("fork_session", {"sessionId": theirs, "name": "stolen"}),
        ("compact_session", {"sessionId": theirs}),
        ("get_compaction", {"sessionId": theirs, "compactionId": job["id"]}),
        ("assemble_context", {"sessionId": theirs, "prompt": "secret"}),
        ("invoke_agent", {"agent": "code-assistant", "prompt": "secret", "session": theirs}),
        ("create_session", {"name": "copy", "fromSession": theirs}),
    ]

    async def work(client: Any) -> tuple[list[Any], Any, Any]:
        results = [await client.call_tool(name, arguments) for name, arguments in calls]
        listed = await client.list_resources()
        try:
            read: Any = await client.read_resource(f"agentctx://sessions/{theirs}")
        except Exception as refused:  # the SDK raises the JSON-RPC error
            read = refused
        return results, listed, read

    results, listed, read = with_client(served, api.key, revision, work)

    for (name, _), result in zip(calls, results, strict=True):
        assert result.is_error, name
        assert result.structured_content["error"]["code"] == "not_found", (name, result.structured_content)
        assert "their secret" not in result.content[0].text, name
    assert theirs not in json.dumps([str(resource.uri) for resource in listed.resources])
    assert isinstance(read, Exception) and "their secret" not in str(read)
    after = other_api.get(f"/v1/aip/sessions/{theirs}/blocks", params={"includeCompacted": "true"}).json()["data"]
    assert after == before
    assert theirs not in json.dumps(api.get("/v1/aip/sessions").json()["data"])
