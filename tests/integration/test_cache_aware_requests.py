"""What the models receive, through the HTTP app, with recording Bedrock and OpenAI endpoints on loopback: native
turns, byte-stable prefixes from one turn to the next, cache points where the rules put them (never more than 4),
the context endpoint, and its preview equal to what an invocation then sends."""

import json

import pytest

from tests.integration.conftest import CLAUDE, agent_on, bedrock_aws
from tests.integration.test_invoke_api import parse_sse
from tests.integration.test_sessions_api import append, create_session
from tests.providers.model_endpoints import call_tool

aws = pytest.fixture(bedrock_aws)
FILE = "def handler(event, context):\n    return {'statusCode': 200}\n" * 120  # about 2,000 tokens


def working_session(api) -> str:  # type: ignore[no-untyped-def]
    """A session holding files and notes (about 10,000 tokens) and an earlier exchange."""
    session = create_session(api, name="cache")["id"]
    files = [{"type": "file", "content": {"path": f"src/app{n}.py", "content": FILE}} for n in range(5)]
    notes = [{"type": "note", "content": "Deploy with SAM; the table is on-demand."}]
    talk = [{"type": "conversation", "content": [{"role": "user", "content": "Where is the handler?"}]}]
    talk += [{"type": "conversation", "content": [{"role": "assistant", "content": "In src/app0.py."}]}]
    append(api, session, *files, *notes, *talk)
    return session


def invoke(api, agent: str, session: str, prompt: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    response = api.post("/v1/aip/invoke", json={"agent": agent, "prompt": prompt, "session": session, **extra})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def points(body: dict) -> int:
    return json.dumps(body).count('"cachePoint"')


def without_points(body: dict) -> dict:
    """The request as the model reads it, cache points left out."""
    strip = lambda parts: [part for part in parts if "cachePoint" not in part]  # noqa: E731
    messages = [{"role": m["role"], "content": strip(m["content"])} for m in body["messages"]]
    return {"system": strip(body["system"]), "messages": messages}


def test_a_bedrock_chat_sends_native_turns_with_a_prefix_the_next_turn_reads(api, bedrock_recorder):
    agent = agent_on(api, "bedrock", CLAUDE, "claude", ["current_time"])
    session = working_session(api)

    for turn in range(4):
        invoke(api, agent, session, f"Question {turn}: what changed?")

    bodies = [sent["body"] for sent in bedrock_recorder.requests]
    for body in bodies:
        roles = [message["role"] for message in body["messages"]]
        assert roles[0] == "user" and all(a != b for a, b in zip(roles, roles[1:], strict=False))
        assert "In src/app0.py." in json.dumps(body["messages"]) and "In src/app0.py." not in json.dumps(body["system"])
        assert 2 <= points(body) <= 4
    last = bodies[-1]["messages"]
    assert last[-1]["content"][-2:] == [{"text": "Question 3: what changed?"}, {"cachePoint": {"type": "default"}}]
    assert {"text": "Answer number 3."} in last[-2]["content"]  # the earlier answers, as the assistant's turns
    for earlier, later in zip(bodies, bodies[1:], strict=False):
        assert later["system"] == earlier["system"] and later["toolConfig"] == earlier["toolConfig"]
        sent, then = without_points(earlier), without_points(later)
        assert json.dumps(then["messages"][: len(sent["messages"])]) == json.dumps(sent["messages"])  # byte-stable
    usages = [sent["usage"] for sent in bedrock_recorder.requests]
    assert usages[0]["cacheReadInputTokens"] == 0 and usages[0]["cacheWriteInputTokens"] > 9_000
    assert all(usage["cacheReadInputTokens"] > 9_000 for usage in usages[1:])


def test_tool_calls_become_tool_use_and_result_parts_in_the_next_request(api, bedrock_recorder):
    agent = agent_on(api, "bedrock", CLAUDE, "claude", ["current_time"])
    session = working_session(api)
    bedrock_recorder.script = call_tool("current_time", 2)

    invoke(api, agent, session, "What time is it?")
    bedrock_recorder.script = call_tool("current_time", 0)
    invoke(api, agent, session, "And now?")

    in_loop = bedrock_recorder.requests[1:3]
    assert [sent["usage"]["cacheReadInputTokens"] > 0 for sent in in_loop] == [True, True]  # each step reads
    history = bedrock_recorder.requests[-1]["body"]["messages"]
    uses = [part["toolUse"] for message in history for part in message["content"] if "toolUse" in part]
    results = [part["toolResult"] for message in history for part in message["content"] if "toolResult" in part]
    assert [use["name"] for use in uses] == ["current_time", "current_time"]
    assert [result["toolUseId"] for result in results] == [use["toolUseId"] for use in uses]
    for message, following in zip(history, history[1:], strict=False):
        used = {part["toolUse"]["toolUseId"] for part in message["content"] if "toolUse" in part}
        answered = {part["toolResult"]["toolUseId"] for part in following["content"] if "toolResult" in part}
        assert used <= answered  # each call answered in the very next message


@pytest.mark.parametrize("stream", [False, True])
def test_the_preview_is_what_the_invocation_then_sends(api, bedrock_recorder, stream):
    agent = agent_on(api, "bedrock", CLAUDE, "claude", ["current_time"])
    session = working_session(api)
    options = {"context": {"maxTokens": 8_000, "excludeByTag": ["old"]}, "enrichment": "auto"}
    preview = api.post(
        "/v1/aip/context", json={"agent": agent, "prompt": "Continue.", "session": session, **options}
    ).json()["data"]

    response = api.post(
        "/v1/aip/invoke", json={"agent": agent, "prompt": "Continue.", "session": session, "stream": stream, **options}
    )

    sent = bedrock_recorder.requests[0]
    assert preview["format"] == "bedrock" and preview["payload"].pop("modelId") == CLAUDE == sent["model"]
    assert preview["payload"] == sent["body"]
    assert preview["cachePoints"] == points(sent["body"]) and preview["tokenCount"] <= 8_000
    if stream:
        assembled = dict(parse_sse(response.text))["context_assembled"]
        assert assembled["tokenCount"] == preview["tokenCount"] and assembled["blockIds"] == preview["blockIds"]


def test_openai_requests_carry_the_session_as_prompt_cache_key_and_reuse_its_prefix(api, openai_recorder):
    agent = agent_on(api, "openai", "gpt-5", "gpt")
    session = working_session(api)
    preview = api.post("/v1/aip/context", json={"agent": agent, "prompt": "One", "session": session}).json()["data"]

    invoke(api, agent, session, "One")
    invoke(api, agent, session, "Two")

    first, second = openai_recorder.requests
    assert preview["format"] == "openai" and preview["payload"] == first["body"]
    assert first["body"]["prompt_cache_key"] == second["body"]["prompt_cache_key"] == session
    assert second["body"]["messages"][: len(first["body"]["messages"])] == first["body"]["messages"]
    assert second["body"]["messages"][-2:] == [
        {"role": "assistant", "content": "Answer number 1."},
        {"role": "user", "content": "Two"},
    ]
    reported = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert reported > 0.9 * first["usage"]["prompt_tokens"]


def test_context_for_the_callers_own_loop_in_each_format(api):
    session = working_session(api)
    body = {"session": session, "prompt": "Summarise.", "systemPrompt": "You are terse."}

    text = api.post("/v1/aip/context", json=body).json()["data"]
    anthropic = api.post("/v1/aip/context", json={**body, "format": "anthropic"}).json()["data"]
    openai = api.post("/v1/aip/context", json={**body, "format": "openai"}).json()["data"]

    assert text["format"] == "text" and text["agent"] is None
    assert text["payload"]["text"].startswith("You are terse.") and "src/app4.py" in text["payload"]["text"]
    assert text["payload"]["text"].endswith("user: Summarise.")
    assert len(text["blockIds"]) == 8 and set(text["sections"]) == {
        "tools",
        "system",
        "context",
        "history",
        "request",
        "prompt",
    }
    assert text["sections"]["context"] > 9_000 and text["tokenCount"] > 9_000
    messages = anthropic["payload"]["messages"]
    assert anthropic["payload"]["system"][0] == {"type": "text", "text": "You are terse."}
    assert [message["role"] for message in messages] == ["user", "assistant", "user"]
    assert openai["payload"]["messages"][0] == {
        "role": "system",
        "content": "You are terse.\n\n" + text["payload"]["text"].split("\n\n", 1)[1].split("\n\nuser: Where")[0],
    }


def test_context_max_tokens_is_the_ceiling_of_everything_assembled(api, bedrock_recorder):
    agent = agent_on(api, "bedrock", CLAUDE, "claude")
    session = working_session(api)
    body = {"agent": agent, "prompt": "handler statusCode", "session": session, "stream": True}
    body |= {"context": {"maxTokens": 2_000}, "enrichment": "auto"}

    response = api.post("/v1/aip/invoke", json=body)
    preview = api.post("/v1/aip/context", json={k: v for k, v in body.items() if k != "stream"}).json()["data"]

    assembled = dict(parse_sse(response.text))["context_assembled"]
    assert assembled["tokenCount"] <= 2_000 and preview["tokenCount"] <= 2_000


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"prompt": "x", "format": "xml"}, 422, "format"),
        ({"prompt": "x", "agent": "nobody"}, 404, "nobody"),
        ({"prompt": "x", "session": "sess_" + "0" * 32}, 404, "sess_"),
        ({"prompt": "x", "context": {"blockIds": ["blk_x"]}}, 400, "blockIds"),
        ({"prompt": ""}, 422, "prompt"),
    ],
)
def test_bad_context_requests_get_a_clear_error(api, body, status, names):
    response = api.post("/v1/aip/context", json=body)

    assert response.status_code == status, response.text
    assert names in json.dumps(response.json()["error"])


def test_the_context_endpoint_writes_nothing_and_never_reaches_another_api(api, other_api):
    session = working_session(api)
    before = api.get(f"/v1/aip/sessions/{session}").json()["data"]["metrics"]

    mine = api.post("/v1/aip/context", json={"prompt": "x", "session": session})
    theirs = other_api.post("/v1/aip/context", json={"prompt": "x", "session": session})

    assert mine.status_code == 200 and theirs.status_code == 404
    assert api.get(f"/v1/aip/sessions/{session}").json()["data"]["metrics"] == before


def test_the_cache_usage_the_endpoint_reports_arrives_everywhere_usage_appears(api, bedrock_recorder):
    agent = agent_on(api, "bedrock", CLAUDE, "claude", ["current_time"])
    session = working_session(api)
    bedrock_recorder.script = call_tool("current_time", 1)

    answered = invoke(api, agent, session, "What time is it?")
    streamed = api.post("/v1/aip/invoke", json={"agent": agent, "prompt": "Again?", "session": session, "stream": True})

    reported = [sent["usage"] for sent in bedrock_recorder.requests]
    first, second = reported[:2], reported[2:]

    def total(usages: list[dict]) -> dict:
        return {
            "inputTokens": sum(
                u["inputTokens"] + u["cacheReadInputTokens"] + u["cacheWriteInputTokens"] for u in usages
            ),
            "cacheReadInputTokens": sum(u["cacheReadInputTokens"] for u in usages),
            "cacheWriteInputTokens": sum(u["cacheWriteInputTokens"] for u in usages),
            "outputTokens": sum(u["outputTokens"] for u in usages),
        }

    assert total(first)["cacheReadInputTokens"] > 0 and total(second)["cacheReadInputTokens"] > 0
    assert {key: answered["usage"][key] for key in total(first)} == total(first)
    complete = dict(parse_sse(streamed.text))["complete"]
    assert {key: complete["usage"][key] for key in total(second)} == total(second)
    record = api.get(f"/v1/aip/sessions/{session}/invocations/{answered['id']}").json()["data"]
    assert record["usage"] == answered["usage"]
    day = api.get("/v1/usage").json()["data"]
    both = total(reported)
    assert (day["inputTokens"], day["cacheReadTokens"], day["cacheWriteTokens"]) == (
        both["inputTokens"],
        both["cacheReadInputTokens"],
        both["cacheWriteInputTokens"],
    )
