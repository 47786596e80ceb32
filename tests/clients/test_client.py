"""The Python client against the service over HTTP: typed calls on both surfaces, streams, pagination, retries and
errors; and its models against the service's OpenAPI document."""

import json

import httpx
import pytest
from agentctx_client import Client, InvalidRequest, InvokeCompleted, NotFound, RenderedContext, TextDelta
from agentctx_client.models import MODELS

from tests.integration.conftest import CLAUDE, agent_on


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


LOGIN = "def login(request):\n    return {'statusCode': 200}\n" * 120  # about 2,000 tokens: enough to be cached


def working_session(client) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """A session with a pinned note, a file, an earlier exchange and an unrelated note; its id and block ids."""
    session = client.sessions.create("Context")
    blocks = client.blocks.add_many(
        session.id,
        [
            {"type": "note", "content": "Use JWT with refresh tokens", "tags": ["auth"], "pinned": True},
            {"type": "file", "content": {"path": "src/login.py", "content": LOGIN}, "tags": ["auth"]},
            {"type": "conversation", "content": [{"role": "user", "content": "Where is login?"}], "tags": ["auth"]},
            {"type": "conversation", "content": [{"role": "assistant", "content": "In src/login.py."}]},
            {"type": "note", "content": "unrelated " * 50, "tags": ["misc"]},
        ],
    )
    return session.id, [block.id for block in blocks]


def test_context_renders_a_sessions_blocks_in_each_format_ready_to_send(client):
    session, block_ids = working_session(client)
    rendered = {
        name: client.context("Summarise.", session=session, system_prompt="You are terse.", format=name)
        for name in ("text", "openai", "anthropic", "bedrock")
    }

    for name, context in rendered.items():
        assert isinstance(context, RenderedContext) and context.format == name and context.agent is None
        assert context.block_ids == block_ids and context.enriched_block_ids == []
        assert context.sections.context > 0 and context.sections.history > 0 and context.sections.prompt > 0
    text = rendered["text"].payload["text"]
    assert text.startswith("You are terse.") and "src/login.py" in text and text.endswith("user: Summarise.")
    assert rendered["openai"].payload["messages"][0]["role"] == "system" and rendered["openai"].cache_points == 0
    anthropic, bedrock = rendered["anthropic"], rendered["bedrock"]
    assert anthropic.payload["system"][0] == {"type": "text", "text": "You are terse."}
    assert [message["role"] for message in anthropic.payload["messages"]] == ["user", "assistant", "user"]
    assert (
        bedrock.payload["system"][0] == {"text": "You are terse."}
        and "src/login.py" in bedrock.payload["system"][1]["text"]
    )


def test_context_for_an_agent_on_claude_is_its_converse_call_with_cache_points(client, api):
    session, block_ids = working_session(client)
    agent = agent_on(api, "bedrock", CLAUDE, "claude", ["current_time"])

    bedrock = client.context("Summarise.", session=session, agent=agent)
    anthropic = client.context("Summarise.", session=session, agent=agent, format="anthropic")

    assert bedrock.format == "bedrock" and bedrock.payload["modelId"] == CLAUDE and bedrock.block_ids == block_ids
    assert [tool["toolSpec"]["name"] for tool in bedrock.payload["toolConfig"]["tools"][:1]] == ["current_time"]
    assert bedrock.cache_points > 0 and bedrock.cache_points == json.dumps(bedrock.payload).count('"cachePoint"')
    assert anthropic.cache_points == bedrock.cache_points == json.dumps(anthropic.payload).count('"cache_control"')


def test_context_options_choose_the_blocks_and_bound_their_tokens(client):
    session, block_ids = working_session(client)

    tagged = client.context("Go on", session=session, include_by_tag=["auth"], exclude_by_tag=["misc"])
    unpinned = client.context("Go on", session=session, exclude_by_tag=["auth"], include_pinned=False)
    chosen = client.context("Go on", session=session, block_ids=block_ids[4:], include_by_tag=["none"])
    bounded = client.context("Go on", session=session, max_tokens=60)

    assert tagged.block_ids == block_ids[:3]
    assert unpinned.block_ids == block_ids[3:]
    assert chosen.block_ids == [block_ids[0], block_ids[4]]  # the pinned note, and the named block though no tag fits
    assert bounded.token_count <= 60 and len(bounded.block_ids) < len(block_ids)


def test_context_with_an_agent_is_what_invoking_the_agent_uses(client, service):
    session, _ = working_session(client)

    preview = client.context("Continue the auth work", session=session, agent="code-assistant", max_tokens=50_000)
    result = client.invoke("code-assistant", "Continue the auth work", session=session, max_tokens=50_000)

    assert preview.agent == "code-assistant" and preview.format == "text"  # the offline model's own format
    assert preview.payload["text"].startswith("You are a careful coding assistant.")
    assert preview.sections.tools > 0  # current_time and web_fetch
    assert preview.block_ids == result.context.block_ids and preview.token_count == result.context.token_count


def test_a_bad_context_format_is_an_invalid_request_with_the_services_message(client):
    with pytest.raises(InvalidRequest) as raised:
        client.context("Go on", format="xml")

    assert (raised.value.status, raised.value.code) == (422, "validation_error")
    assert "format" in json.dumps(raised.value.details) and raised.value.request_id


def test_context_of_another_tenants_session_is_not_found(client, service, other_api):
    session, _ = working_session(client)

    with Client(service.url, other_api.key) as other, pytest.raises(NotFound) as raised:
        other.context("Go on", session=session)

    assert session in raised.value.message


def test_context_larger_than_a_dynamodb_item_is_answered(client):
    # writing nothing, the call goes without an Idempotency-Key: the service then keeps no copy of the answer for
    # replays, which one DynamoDB item (400 KB) could not hold; this answer is about 1 MB
    session = client.sessions.create("Large")
    text = " ".join(["The deployment pipeline publishes artifacts whenever configuration changes arrive."] * 2_000)
    for n in range(6):
        client.blocks.add(session.id, "note", f"{n}: {text}")

    rendered = client.context("Go on", session=session.id, agent="code-assistant", format="text")

    assert len(rendered.block_ids) == 6 and len(rendered.payload["text"]) > 6 * len(text)
