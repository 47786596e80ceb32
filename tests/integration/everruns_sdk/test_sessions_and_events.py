"""Sessions through the SDK's management client: a turn and its events, the event stream across reconnects, SSE's
framing, and forks."""

import asyncio

import httpx
import pytest
from everruns_sdk.errors import ApiError, NotFoundError
from everruns_sdk.models import AgentCapabilityConfig, Controls, InitialFile

from tests.integration.everruns_sdk.helpers import DEFAULT_MODEL_ID, HARNESS_ID, run, until_turn_ends


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
