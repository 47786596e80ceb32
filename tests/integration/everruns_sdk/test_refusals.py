"""What we do not do, said so: a 400 naming the field we cannot honour, and a 404 in our envelope for features we never
claimed."""

import pytest
from everruns_sdk.errors import NotFoundError

from tests.integration.everruns_sdk.helpers import run


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
