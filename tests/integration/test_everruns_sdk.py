"""The official Everruns SDK (`everruns-sdk`, unmodified) against our `/v1`, over real HTTP: the app under uvicorn on
loopback, the turn queue's consumer running the turn function, moto behind both. Every SDK call that maps to a
feature we claim is driven here and its result checked; docs/agent-sessions.md lists them with their routes."""

import asyncio
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from everruns_sdk import AgentClient, Everruns, generate_agent_id
from everruns_sdk.errors import ApiError, AuthenticationError, NotFoundError
from everruns_sdk.models import AgentCapabilityConfig, Controls, InitialFile

from tests.conftest import embedded_aws
from tests.live import serve_with_consumers

HARNESS_ID = "harness_00000000000000000000000000000001"
DEFAULT_MODEL_ID = "model_00000000000000000000000000000001"

warnings.filterwarnings("ignore", category=DeprecationWarning, module="everruns_sdk")


@dataclass
class Stack:
    base_url: str
    key: str
    tenant_id: str

    def client(self) -> Everruns:
        return Everruns(api_key=self.key, base_url=self.base_url)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": self.key}, timeout=10)


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, str]]:
    """One embedded AWS behind one server for the module's tests; each test has a tenant of its own."""
    yield from embedded_aws()


@pytest.fixture(scope="module")
def served(aws, app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The API on a loopback port and the turn function consuming the turn queue, as `make serve` runs them."""
    with serve_with_consumers(app, aws, {"TurnQueue": "TurnFunction"}) as url:
        yield url


@pytest.fixture
def stack(served: str) -> Stack:
    from agentctx.wiring import tenant_service

    tenant = tenant_service().create_tenant("everruns-sdk")
    _, key = tenant_service().issue_key(tenant.id)
    return Stack(served, key, tenant.id)


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


async def until_turn_ends(client: Everruns, session_id: str, turns: int = 1) -> list:  # type: ignore[type-arg]
    """The session's events once `turns` turns have ended, read with the SDK's forward cursor."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = await client.events.list(session_id, after_sequence=0)
        if sum(e.type in ("turn.completed", "turn.failed", "turn.cancelled") for e in events) >= turns:
            return events
        await asyncio.sleep(0.05)
    raise AssertionError("the turn did not end")


def test_bare_key_bearer_and_x_api_key_all_authenticate(stack):
    async def scenario() -> None:
        async with stack.client() as client:  # sends `Authorization: <key>`, no scheme
            assert [h.id for h in await client.harnesses.list()] == [HARNESS_ID]
        async with Everruns(api_key="ctx_wrong", base_url=stack.base_url) as wrong:
            with pytest.raises(AuthenticationError):
                await wrong.agents.list()

    run(scenario())
    for headers in ({"Authorization": f"Bearer {stack.key}"}, {"X-API-Key": stack.key}):
        assert httpx.get(f"{stack.base_url}/v1/harnesses", headers=headers).status_code == 200


def test_agents_harnesses_models_and_capabilities(stack):
    async def scenario() -> None:
        async with stack.client() as client:
            harnesses = await client.harnesses.list()
            assert [(h.id, h.name, h.status) for h in harnesses] == [(HARNESS_ID, "generic", "active")]
            assert [h.id for h in await client.harnesses.search("generic")] == [HARNESS_ID]
            assert await client.harnesses.search("deep-research") == []
            assert (await client.harnesses.get(HARNESS_ID)).is_built_in

            models = await client.models.list()
            default = models[0]
            assert (default.id, default.source, default.provider_type, default.enabled) == (
                DEFAULT_MODEL_ID,
                "predefined",
                "offline",
                True,
            )
            assert (await client.models.get(DEFAULT_MODEL_ID)).model_id == "offline-1"

            agent = await client.agents.create(
                "support-bot",
                "You answer support questions.",
                display_name="Support bot",
                description="Answers tickets",
                tags=["support", "tier-1"],
                capabilities=[AgentCapabilityConfig(ref="current_time")],
            )
            assert (agent.name, agent.display_name, agent.status, agent.harness_id) == (
                "support-bot",
                "Support bot",
                "active",
                HARNESS_ID,
            )
            assert agent.default_model_id == DEFAULT_MODEL_ID and agent.tags == ["support", "tier-1"]
            assert agent.capabilities[0].ref == "current_time"
            assert (await client.agents.get(agent.id)).description == "Answers tickets"

            with pytest.raises(ApiError) as taken:  # names are unique per organization
                await client.agents.create("support-bot", "again")
            assert taken.value.status_code == 409

            chosen = generate_agent_id()
            applied = await client.agents.apply(chosen, "triage", "Sort tickets.", harness_name="generic")
            assert applied.id == chosen
            reapplied = await client.agents.apply(chosen, "triage", "Sort tickets faster.", tags=["v2"])
            assert (reapplied.id, reapplied.system_prompt, reapplied.tags) == (chosen, "Sort tickets faster.", ["v2"])
            assert reapplied.created_at == applied.created_at
            by_name = await client.agents.apply_by_name("escalation", "Escalate.", harness_id=HARNESS_ID)
            assert by_name.name == "escalation"

            listed = await client.agents.list()
            assert sorted(a.name for a in listed) == ["escalation", "support-bot", "triage"]
            assert [a.name for a in await client.agents.list(search="ticket")] == ["support-bot"]

            with pytest.raises(ApiError) as unknown_harness:
                await client.agents.create("other", "x", harness_name="deep-research")
            assert unknown_harness.value.status_code == 400 and "harness_name" in unknown_harness.value.message

            await client.agents.delete(by_name.id)
            with pytest.raises(NotFoundError):
                await client.agents.get(by_name.id)

            capabilities = await client.capabilities.list()
            assert [c.id for c in capabilities] == ["current_time", "web_fetch", "session_file_system"]
            files = await client.capabilities.get("session_file_system")
            assert (files.status, files.category, files.features) == ("available", "file_system", ["file_system"])
            assert {t["name"] for t in files.tool_definitions} >= {"read_file", "write_file"}
            assert all("parameters" in t for t in files.tool_definitions)
            assert [c.id for c in await client.capabilities.list(search="web page")] == ["web_fetch"]
            page = await client.capabilities.list_page(offset=1, limit=1)
            assert (page.total, page.offset, page.limit, len(page.data)) == (3, 1, 1, 1)
            with pytest.raises(NotFoundError):
                await client.capabilities.get("guardrails")

    run(scenario())


def test_a_session_turn_through_the_management_client(stack):
    async def scenario() -> None:
        async with stack.client() as client:
            agent = await client.agents.create(
                "files-bot",
                "You keep notes.",
                capabilities=[AgentCapabilityConfig(ref="session_file_system")],
                initial_files=[InitialFile(path="notes/agent.md", content="from the agent")],
            )
            session = await client.sessions.create(
                harness_name="generic",
                agent_name="files-bot",
                title="Release notes",
                locale="uk-UA",
                tags=["release"],
                initial_files=[InitialFile(path="notes/readme.md", content="ship on friday")],
            )
            assert (session.agent_id, session.harness_id, session.locale, session.status) == (
                agent.id,
                HARNESS_ID,
                "uk-UA",
                "started",
            )
            other = await client.sessions.create(HARNESS_ID, agent_id=agent.id, title="Other")
            assert (await client.sessions.get(session.id)).title == "Release notes"
            assert {s.id for s in await client.sessions.list()} == {session.id, other.id}
            assert [s.id for s in await client.sessions.list(agent_id=agent.id, search="release")] == [session.id]
            with pytest.raises(ApiError) as unknown:
                await client.sessions.create(agent_name="nobody")
            assert unknown.value.status_code == 400 and "agent_name" in unknown.value.message

            message = await client.messages.create(
                session.id,
                'read_file {"path": "notes/readme.md"}',
                controls=Controls(model_id=DEFAULT_MODEL_ID, locale="uk-UA"),
            )
            assert message.role == "user" and message.controls.model_id == DEFAULT_MODEL_ID
            events = await until_turn_ends(client, session.id)
            types = [e.type for e in events]
            assert types[0] == "input.message" and types[-2:] == ["turn.completed", "session.idled"]
            by_type = {e.type: e for e in events}
            turn_id = by_type["turn.started"].data["turn_id"]
            assert by_type["turn.started"].data["input_message_id"] == message.id
            assert by_type["session.activated"].data == {
                "status": "active",
                "turn_id": turn_id,
                "input_message_id": message.id,
            }
            started, completed = by_type["tool.started"].data, by_type["tool.completed"].data
            assert started["tool_call"]["name"] == "read_file"
            assert started["tool_call"]["arguments"] == {"path": "notes/readme.md"}
            assert completed["tool_call_id"] == started["tool_call"]["id"] and completed["success"]
            assert (completed["tool_name"], completed["status"]) == ("read_file", "success")
            assert "ship on friday" in completed["result"][0]["text"]  # the session's initial file
            assert by_type["output.message.started"].data["model"] == DEFAULT_MODEL_ID  # controls.model_id
            deltas = [e.data for e in events if e.type == "output.message.delta"]
            assert all(d["turn_id"] == turn_id for d in deltas)
            assert deltas[-1]["accumulated"] == "".join(d["delta"] for d in deltas)
            answer = by_type["output.message.completed"].data["message"]
            assert answer["content"][0]["text"] == deltas[-1]["accumulated"]
            assert by_type["turn.completed"].data["iterations"] == 2  # model, read_file, model
            assert by_type["session.idled"].data["turn_id"] == turn_id

            messages = await client.messages.list(session.id)
            assert [m.role for m in messages] == ["user", "agent"]

            sequences = [e.sequence for e in events]
            assert sequences == list(range(1, len(events) + 1))
            newest = await client.events.list(session.id, limit=3)
            assert [e.sequence for e in newest] == sequences[-3:]
            older = await client.events.list(session.id, limit=2, before_sequence=newest[0].sequence)
            assert [e.sequence for e in older] == sequences[-5:-3]
            assert [e.sequence for e in await client.events.list(session.id, after_sequence=4, limit=2)] == [5, 6]
            since = await client.events.list(session.id, since_id=events[1].id)
            assert [e.id for e in since] == [e.id for e in events[2:]]
            only_tools = await client.events.list(session.id, types=["tool.started", "tool.completed"])
            assert [e.type for e in only_tools] == ["tool.started", "tool.completed"]
            no_deltas = await client.events.list(session.id, exclude=["output.message.delta"])
            assert [e.type for e in no_deltas] == [t for t in types if t != "output.message.delta"]
            of_turn = await client.events.list(session.id, turn_id=turn_id, order_desc=True)
            assert [e.sequence for e in of_turn] == sequences[::-1]  # the input message belongs to the turn too
            with pytest.raises(ApiError) as bad_type:
                await client.events.list(session.id, types=["turn.complete"])
            assert bad_type.value.status_code == 400 and "turn.complete" in bad_type.value.message
            with pytest.raises(ApiError) as unsupported:  # refused, not silently ignored
                await client.events.list(session.id, q="friday")
            assert unsupported.value.status_code == 400 and unsupported.value.message.startswith("q:")

            await client.sessions.cancel(session.id)  # idle: a no-op
            await client.sessions.delete(other.id)
            with pytest.raises(NotFoundError):
                await client.sessions.get(other.id)

    run(scenario())


def test_the_sdk_stream_reconnects_on_disconnecting_and_resumes_without_gaps(stack):
    async def scenario() -> None:
        async with stack.client() as client:
            await client.agents.create("streamer", "Stream.")
            session = await client.sessions.create(agent_name="streamer")
            await client.messages.create(session.id, "first")
            await until_turn_ends(client, session.id)
            await asyncio.sleep(1.2)  # past SSE_MAX_SECONDS (1 s in tests): a stream opened now must cycle
            await client.messages.create(session.id, "second")
            seen = []
            stream = client.events.stream(session.id, exclude=["output.message.delta"])
            async for event in stream:
                seen.append(event)
                if event.type == "turn.completed" and len([e for e in seen if e.type == "turn.completed"]) == 2:
                    stream.stop()
            await stream.aclose()
            everything = await client.events.list(session.id)
            assert [e.id for e in seen] == [e.id for e in everything if e.type != "output.message.delta"]

    run(scenario())
    with httpx.stream(
        "GET", f"{stack.base_url}/v1/sessions/session_{'0' * 32}/sse", headers={"Authorization": stack.key}
    ) as missing:
        assert missing.status_code == 404


def test_sse_opens_with_connected_and_ends_with_disconnecting(stack):
    with stack.http() as http:
        agent = http.post("/v1/agents", json={"name": "raw", "system_prompt": ""}).json()
        session = http.post("/v1/sessions", json={"agent_id": agent["id"]}).json()
        http.post(
            f"/v1/sessions/{session['id']}/messages", json={"message": {"content": [{"type": "text", "text": "x"}]}}
        )
        text = http.get(f"/v1/sessions/{session['id']}/sse", params={"types": "input.message"}).text
    frames = [frame for frame in text.split("\n\n") if frame.startswith("event:")]
    assert frames[0] == 'event: connected\ndata: {"status": "connected"}'
    assert frames[-1] == 'event: disconnecting\ndata: {"reason": "connection_cycle", "retry_ms": 100}'
    assert [frame.split("\n")[0] for frame in frames[1:-1]] == ["event: input.message"]


def test_agent_client_on_an_agents_channel(stack):
    async def scenario() -> None:
        async with stack.client() as client:
            agent = await client.agents.create("concierge", "Help guests.", display_name="Concierge")
            await client.agents.create("someone-else", "Other.")
            elsewhere = await client.sessions.create(agent_name="someone-else")
        url = f"{stack.base_url}/v1/channels/concierge"
        async with AgentClient(agent_url=url, credential=stack.key) as concierge:
            card = await concierge.card()
            assert (card["agent_id"], card["name"], card["display_name"]) == (agent.id, "concierge", "Concierge")

            reply = await concierge.run("what time is it")
            assert reply == "Offline answer to: what time is it"

            session = await concierge.create_session("Lobby")
            assert session["title"] == "Lobby" and session["agent_id"] == agent.id
            listed = await concierge.list_sessions(limit=1)
            assert [s["id"] for s in listed["data"]] == [session["id"]] and listed["next_page_token"]
            rest = await concierge.list_sessions(page_token=listed["next_page_token"])
            assert len(rest["data"]) == 1 and rest["next_page_token"] is None
            assert (await concierge.get_session(session["id"]))["id"] == session["id"]
            with pytest.raises(NotFoundError):  # the channel reaches its own agent's sessions only
                await concierge.get_session(elsewhere.id)

            again = await concierge.run("and now?", session_id=session["id"])
            assert again == "Offline answer to: and now?"
            second = await concierge.run("once more", session_id=session["id"])
            assert second == "Offline answer to: once more"  # run() skips the history of earlier turns

            sent = await concierge.send_message(session["id"], "hello")
            assert sent["role"] == "user"
            seen = []
            stream = concierge.stream_events(session["id"], after_sequence=0)
            async for event in stream:
                seen.append(event.type)
                if seen.count("turn.completed") == 3:
                    stream.stop()
            await stream.aclose()
            assert seen[0] == "input.message"
            events = await concierge.list_events(session["id"], after_sequence=0)
            assert [e.sequence for e in events] == list(range(1, len(events) + 1))
            assert (await concierge.list_events(session["id"], after_sequence=events[-1].sequence)) == []
            assert await concierge.cancel(session["id"]) == {"status": "no_op", "message": "No turn was running"}

    run(scenario())


def test_fork_takes_title_and_tags_and_records_its_parent(stack):
    with stack.http() as http:
        agent = http.post("/v1/agents", json={"name": "forker", "system_prompt": ""}).json()
        parent = http.post("/v1/sessions", json={"agent_id": agent["id"], "title": "Main", "tags": ["a"]}).json()
        fork = http.post(f"/v1/sessions/{parent['id']}/fork", json={"title": "Branch", "tags": ["experiment"]})
        assert fork.status_code == 201
        assert (fork.json()["title"], fork.json()["tags"]) == ("Branch", ["experiment"])
        assert fork.json()["forked_from_session_id"] == parent["id"]
        plain = http.post(f"/v1/sessions/{parent['id']}/fork").json()  # no body: the parent's title and tags
        assert (plain["title"], plain["tags"], plain["forked_from_session_id"]) == ("Main", ["a"], parent["id"])


def test_what_we_cannot_honour_is_a_400_naming_the_field(stack):
    with stack.http() as http:
        agent = http.post("/v1/agents", json={"name": "strict", "system_prompt": ""}).json()
        tool = {"name": "lookup", "description": "client tool", "parameters": {"type": "object"}}
        cases = [
            ("/v1/agents", {"name": "tooled", "system_prompt": "", "tools": [tool]}, "tools"),
            ("/v1/sessions", {"agent_id": agent["id"], "parallel_tool_calls": True}, "parallel_tool_calls"),
            ("/v1/sessions", {"agent_id": agent["id"], "harness_id": "harness_" + "f" * 32}, "harness_id"),
            (
                "/v1/sessions",
                {"agent_id": agent["id"], "initial_files": [{"path": "../x", "content": ""}]},
                "initial_files[0].path",
            ),
            (  # not base64 at all: a character outside ASCII
                "/v1/agents",
                {"name": "files", "initial_files": [{"path": "a", "content": "µ", "encoding": "base64"}]},
                "initial_files[0].content",
            ),
            (  # base64, but not of UTF-8 text
                "/v1/agents",
                {"name": "files", "initial_files": [{"path": "a", "content": "/w==", "encoding": "base64"}]},
                "initial_files[0].content",
            ),
        ]
        for path, body, field in cases:
            response = http.post(path, json=body)
            assert response.status_code == 400 and field in response.json()["error"]["message"], (path, field)
        assert len(http.get("/v1/sessions").json()["data"]) == 0  # nothing was written


def test_features_we_never_claimed_answer_404_in_our_envelope(stack):
    async def scenario() -> None:
        async with stack.client() as client:
            for call in (
                client.budgets.list(),
                client.workspaces.list(),
                client.memories.list(),
                client.connections.list(),
                client.sessions.budgets("session_" + "0" * 32),
            ):
                with pytest.raises(NotFoundError) as missing:
                    await call
                assert missing.value.code == "not_found"

    run(scenario())
