"""The Python client against the service over HTTP: typed calls on both surfaces, streams, pagination, retries and
errors; and its models against the service's OpenAPI document."""

import httpx
import pytest
from agentctx_client import Client, InvokeCompleted, NotFound, TextDelta
from agentctx_client.models import MODELS


def test_every_model_field_exists_in_its_openapi_schema_and_every_required_one_is_modelled(app):
    schemas = app.openapi()["components"]["schemas"]
    for model in MODELS:
        properties = schemas[model.openapi_schema]["properties"]
        required = set(schemas[model.openapi_schema].get("required", []))
        wire_names = {_wire_name(model, name) for name in model.model_fields}

        assert wire_names <= set(properties), (model.__name__, wire_names - set(properties))
        assert required <= wire_names, (model.__name__, required - wire_names)


def _wire_name(model, name: str) -> str:  # type: ignore[no-untyped-def]
    """The field's name on the wire: its serialization alias when the model has one."""
    return model.model_fields[name].serialization_alias or model.model_fields[name].alias or name


@pytest.fixture
def client(service):  # type: ignore[no-untyped-def]
    with Client(service.url, service.key) as client:
        yield client


def test_sessions_blocks_fork_invoke_and_compact_round_trip(client):
    session = client.sessions.create("Auth Feature", default_agent="code-assistant", tags=["auth"])
    client.blocks.add(session.id, "note", "Use JWT with refresh tokens", tags=["authentication"], pinned=True)
    batch = client.blocks.add_many(
        session.id,
        [
            {"type": "conversation", "content": [{"role": "user", "content": "Add login"}], "tags": ["authentication"]},
            {"type": "note", "content": "unrelated " * 50, "tags": ["misc"]},
        ],
    )

    assert client.sessions.get(session.id).metrics.block_count == 3
    assert [block.id for block in client.blocks.list(session.id)][1:] == [block.id for block in batch]
    fork = client.sessions.fork(session.id, "Deep dive", include_by_tag=["authentication"])
    assert fork.forked_from == session.id
    assert {block.type for block in client.blocks.list(fork.id)} == {"note", "conversation"}

    result = client.invoke("code-assistant", "Continue the auth work", session=session.id, max_tokens=50_000)
    assert result.output and result.session == session.id
    assert [invocation.id for invocation in client.sessions.invocations(session.id)] == [result.id]

    client.blocks.add_many(session.id, [{"type": "note", "content": f"step {n}: " + "detail " * 200} for n in range(4)])
    job = client.sessions.compact(session.id, target_tokens=50, preserve_recent=1)
    assert job.status == "completed" and job.new_tokens is not None and job.new_tokens < job.previous_tokens
    assert [j.id for j in client.sessions.compactions(session.id)] == [job.id]
    assert any(block.metadata.compacted for block in client.blocks.list(session.id, include_compacted=True))

    queued = client.sessions.compact(session.id, target_tokens=10, wait=False)
    assert client.sessions.wait_for_compaction(session.id, queued.id).status in {"completed", "failed"}

    client.sessions.delete(fork.id)
    with pytest.raises(NotFound):
        client.sessions.get(fork.id)


def test_invoke_streams_typed_events_whose_text_adds_up_to_the_answer(client):
    session = client.sessions.create("Streamed")
    client.blocks.add(session.id, "note", "We use JWT")

    events = list(client.invoke_stream("code-assistant", "What do we use?", session=session.id))

    assert events[0].event == "start"
    assert isinstance(events[-1], InvokeCompleted)
    text = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert text and text == events[-1].result.output


def test_lists_are_iterators_that_follow_every_page(client):
    made = {client.sessions.create(f"page {n}", tags=["paged"]).id for n in range(7)}

    listed = [session.id for session in client.sessions.list(tag="paged", page_size=3)]

    assert sorted(listed) == sorted(made) and len(listed) == 7


def test_an_api_error_carries_the_envelopes_code_and_request_id(client):
    with pytest.raises(NotFound) as raised:
        client.sessions.get("sess_00000000000000000000000000000000")

    error = raised.value
    assert (error.status, error.code) == (404, "not_found")
    assert error.request_id and len(error.request_id) >= 16
    with pytest.raises(Exception) as invalid:
        client.sessions.create("")
    assert invalid.value.code == "validation_error" and invalid.value.request_id  # type: ignore[attr-defined]


class LoseFirstAnswer(httpx.BaseTransport):
    """Sends every request to the service, but the first POST's answer is lost on its way back (a 503 instead)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.posts: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST":
            self.posts.append(request)
            if len(self.posts) == 1:
                response.read()
                return httpx.Response(503, json={"error": {"code": "unavailable", "message": "lost", "requestId": "x"}})
        return response


def test_a_retried_post_reuses_its_idempotency_key_and_is_applied_once(service):
    transport = LoseFirstAnswer()
    with Client(service.url, service.key, transport=transport) as client:
        session = client.sessions.create("Once", tags=["retried"])

        keys = [request.headers["Idempotency-Key"] for request in transport.posts]
        assert len(keys) == 2 and keys[0] == keys[1]
        assert [s.id for s in client.sessions.list(tag="retried")] == [session.id]


def test_the_agent_session_event_stream_resumes_by_itself_and_misses_nothing(client, service):
    # the tests' SSE streams end after 1 s (SSE_MAX_SECONDS), so following a turn takes several reconnections
    session = client.agent_sessions.create(service.agent_id, title="Streamed turn", tags=["cli"])
    message = client.agent_sessions.send(session.id, "What is current_time?")

    followed = list(client.agent_sessions.stream(session.id, until=lambda event: event.type == "session.idled"))
    logged = list(client.agent_sessions.events(session.id, page_size=2))

    assert message.role == "user"
    assert [event.id for event in followed] == [event.id for event in logged[: len(followed)]]
    assert [event.sequence for event in followed] == sorted({event.sequence for event in followed})
    assert {"turn.started", "turn.completed"} <= {event.type for event in followed}
    assert client.agent_sessions.get(session.id).status == "idle"
    assert [m.role for m in client.agent_sessions.messages(session.id)][0] == "user"
    resumed = list(client.agent_sessions.events(session.id, since_id=followed[0].id))
    assert [event.id for event in resumed] == [event.id for event in logged[1:]]
