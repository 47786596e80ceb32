"""The SDK's AgentClient on an agent's channel: its card, runs, sessions and events."""

import pytest
from everruns_sdk import AgentClient
from everruns_sdk.errors import NotFoundError

from tests.integration.everruns_sdk.helpers import run


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
