"""The OpenAPI document's request examples run as they are, with a real key, after the README's setup (the
`code-assistant` agent that `make serve` registers): what Swagger UI's "Try it out" sends. Only the ids of what
the walk made are filled in, as a reader does in the path parameters."""

from typing import Any

import pytest

from tests.unit.test_openapi_examples import schema_examples


def example_body(document: dict[str, Any], method: str, path: str) -> Any:
    operation = document["paths"][path][method.lower()]
    return schema_examples(operation["requestBody"]["content"]["application/json"]["schema"])[0]


def example_headers(document: dict[str, Any], method: str, path: str) -> dict[str, str]:
    """The header parameters' examples, as Swagger UI fills them in."""
    parameters = document["paths"][path][method.lower()].get("parameters", [])
    return {p["name"]: p["schema"]["examples"][0] for p in parameters if p["in"] == "header" and p["required"]}


@pytest.fixture
def send_example(api, app, code_assistant):
    document = app.openapi()

    def send(method: str, path: str, **ids: str) -> Any:
        response = api.request(
            method,
            path.format(**ids),
            json=example_body(document, method, path),
            headers=example_headers(document, method, path),
        )
        assert response.status_code < 300, (method, path, response.text)
        return response.json()

    return send


def test_the_aip_examples_create_a_session_add_blocks_and_invoke(send_example):
    session = send_example("POST", "/v1/aip/sessions")["data"]["id"]
    blocks = send_example("POST", "/v1/aip/sessions/{sessionId}/blocks", sessionId=session)["data"]
    send_example("PATCH", "/v1/aip/blocks/{blockId}", blockId=blocks[0]["id"])
    send_example("POST", "/v1/aip/sessions/{sessionId}/fork", sessionId=session)

    invocation = send_example("POST", "/v1/aip/invoke")["data"]
    assert invocation["status"] == "completed" and invocation["agent"] == "code-assistant"
    assert send_example("POST", "/.well-known/aip/invoke")["data"]["status"] == "completed"


def test_the_agent_runtime_examples_create_a_session_and_send_a_message(send_example):
    session = send_example("POST", "/v1/sessions")["id"]
    send_example("POST", "/v1/sessions/{session_id}/messages", session_id=session)
    send_example("PATCH", "/v1/sessions/{session_id}", session_id=session)
    channel_session = send_example("POST", "/v1/channels/{agent}/sessions", agent="code-assistant")["id"]
    send_example(
        "POST",
        "/v1/channels/{agent}/sessions/{session_id}/messages",
        agent="code-assistant",
        session_id=channel_session,
    )


def test_the_catalog_examples_create_and_change_a_model_and_an_agent(send_example):
    model = send_example("POST", "/v1/models")["id"]
    send_example("PATCH", "/v1/models/{model_id}", model_id=model)
    agent = send_example("POST", "/v1/agents")["id"]
    send_example("PATCH", "/v1/agents/{agent_id}", agent_id=agent)
