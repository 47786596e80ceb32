"""How assembled blocks become a model request: order, native turns, byte-stable prefixes and cache points."""

import json

import pytest

from agentctx import ids
from agentctx.capabilities import ToolSpec
from agentctx.domain import Block, BlockType, Model, Provider, render_block_text
from agentctx.errors import InvalidRequest
from agentctx.providers.base import CachePoint, ChatMessage, TextPart, ToolResultPart, ToolUsePart
from agentctx.providers.bedrock import converse_arguments
from agentctx.providers.openai_compat import chat_body
from agentctx.services.rendering import HISTORY_OPENING, layout
from agentctx.tokens import count_tokens

SESSION = "a" * 32
TOOLS = [ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})]
BIG = "lorem ipsum dolor " * 700  # about 2,100 tokens


def model(provider: Provider = Provider.BEDROCK, model_id: str = "us.anthropic.claude-sonnet-4-6", **options) -> Model:
    return Model("org_x", "b" * 32, "m", provider, model_id, 200_000, 1_000, options, "t", "t")


_keys = iter(f"{n:026d}" for n in range(1, 10_000))


def block(block_type: BlockType, content, pinned: bool = False) -> Block:
    """A block counted as the service counts one: its rendered text's tokens."""
    tokens = count_tokens(render_block_text(block_type, content))
    return Block(SESSION, next(_keys), block_type, content, tokens, [], pinned, 0.5, "t")


def say(role: str, text: str) -> Block:
    return block(BlockType.CONVERSATION, [{"role": role, "content": text}])


def chat(turns: int) -> list[Block]:
    blocks = [block(BlockType.FILE, {"path": "app.py", "content": BIG}), block(BlockType.NOTE, "use tabs")]
    for n in range(turns):
        blocks += [say("user", f"question {n}"), say("assistant", f"answer {n}")]
    return blocks


def test_stable_blocks_go_to_the_system_and_the_history_becomes_native_turns():
    note, question = block(BlockType.NOTE, "use tabs"), say("user", "read app.py")
    tool = block(BlockType.TOOL_RESULT, {"tool": "read_file", "input": {"path": "app.py"}, "output": "print(1)"})
    other = block(BlockType.TOOL_RESULT, {"tool": "web_fetch", "input": {"url": "x"}, "output": "gone"})
    answer, pinned = say("assistant", "it prints 1"), say("user", "remember: Python 3.11")
    pinned.pinned = True

    built = layout(model(), "You help.", TOOLS, [note, question, tool, other, answer, pinned], [], "and now?", SESSION)
    messages = built.first_messages()

    assert [part.text for part in built.system][0] == "You help."
    assert "use tabs" in built.system[1].text and "Python 3.11" in built.system[1].text
    assert [message.role for message in messages] == ["user", "assistant", "user", "assistant", "user"]
    use, result = messages[1].parts[0], messages[2].parts[0]
    assert isinstance(use, ToolUsePart) and isinstance(result, ToolResultPart)
    assert (use.name, use.input, result.tool_use_id, result.output) == (
        "read_file",
        {"path": "app.py"},
        use.id,
        "print(1)",
    )
    assert "web_fetch" in messages[2].parts[1].text  # a tool the request does not offer stays text
    assert messages[3].parts == [TextPart("it prints 1")]
    assert messages[-1].parts == [TextPart("and now?")]


def test_a_history_that_opens_with_the_assistant_gets_an_opening_user_message():
    built = layout(model(), "s", [], [say("assistant", "hello")], [], "hi", None)

    assert [(m.role, m.parts[0].text) for m in built.first_messages()] == [
        ("user", HISTORY_OPENING),
        ("assistant", "hello"),
        ("user", "hi"),
    ]


def test_enrichment_hits_come_after_the_history_with_the_new_message():
    hit = block(BlockType.NOTE, "the migration plan")
    built = layout(model(), "s", [], chat(1), [hit], "migrate?", None)

    last = built.first_messages()[-1]
    assert last.role == "user" and "the migration plan" in last.parts[0].text and last.parts[-1].text == "migrate?"
    assert "the migration plan" not in built.system[-1].text


def serialised(built, messages=None, **kwargs) -> str:
    return json.dumps(converse_arguments(built.model_request(messages or built.first_messages(), **kwargs)))


def test_appending_a_turn_changes_only_bytes_after_the_history_of_the_turn_before():
    before = serialised(layout(model(), "s", TOOLS, chat(3), [], "next", SESSION))
    after = serialised(layout(model(), "s", TOOLS, chat(4), [], "next", SESSION))

    cut = before.index("answer 2") + len("answer 2")
    assert after[:cut] == before[:cut]


def points(arguments: dict) -> list[tuple[str, dict]]:
    found = [("tools", t["cachePoint"]) for t in arguments.get("toolConfig", {}).get("tools", []) if "cachePoint" in t]
    found += [("system", p["cachePoint"]) for p in arguments.get("system", []) if "cachePoint" in p]
    for index, message in enumerate(arguments["messages"]):
        found += [(f"message {index}", p["cachePoint"]) for p in message["content"] if "cachePoint" in p]
    return found


def test_cache_points_close_the_stable_context_the_history_and_the_last_message():
    built = layout(model(), "s", TOOLS, chat(3), [], "next", SESSION)
    arguments = converse_arguments(built.model_request(built.first_messages()))

    # the tools alone are under the minimum: no point there
    assert [where for where, _ in points(arguments)] == ["system", "message 5", "message 6"]
    assert arguments["messages"][5]["content"][-1] == {"cachePoint": {"type": "default"}}


def test_later_steps_read_the_step_before_and_never_pass_four_points():
    tools = [ToolSpec(f"tool_{n}", BIG[:400], {"type": "object"}) for n in range(12)]  # over the minimum alone
    built = layout(model(prompt_cache={"ttl": "1h"}), "s", tools, chat(2), [], "go", SESSION)
    messages = built.first_messages()
    end = (len(messages) - 1, len(messages[-1].parts))
    messages += [
        ChatMessage("assistant", [ToolUsePart(f"t{n}", "tool_0", {}) for n in range(15)]),
        ChatMessage("user", [ToolResultPart(f"t{n}", "tool_0", "ok") for n in range(15)]),
    ]
    arguments = converse_arguments(built.model_request(messages, previous_end=end))

    found = points(arguments)
    assert [where for where, _ in found] == ["tools", "system", f"message {end[0]}", f"message {len(messages) - 1}"]
    assert [point.get("ttl", "5m") for _, point in found] == ["1h", "1h", "5m", "5m"]  # longer TTLs first


def test_no_point_where_the_prefix_is_under_the_models_minimum():
    short = [say("user", "hi"), say("assistant", "hello")]
    assert (
        points(
            converse_arguments(
                layout(model(), "s", [], short, [], "q", None).model_request(
                    layout(model(), "s", [], short, [], "q", None).first_messages()
                )
            )
        )
        == []
    )
    lowered = layout(model(prompt_cache={"min_tokens": 1}), "s", [], short, [], "q", None)
    assert len(points(converse_arguments(lowered.model_request(lowered.first_messages())))) == 3


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (model(model_id="meta.llama3-70b-instruct-v1:0"), []),
        (model(prompt_cache={"enabled": False}), []),
        (model(model_id="amazon.nova-pro-v1:0"), ["system", "message 5", "message 6"]),
    ],
)
def test_models_that_cannot_cache_get_no_points_and_nova_none_on_tools(chosen, expected):
    tools = [ToolSpec(f"tool_{n}", BIG[:400], {"type": "object"}) for n in range(12)]
    built = layout(chosen, "s", tools, chat(3), [], "next", SESSION)

    assert [where for where, _ in points(converse_arguments(built.model_request(built.first_messages())))] == expected


def test_openai_requests_carry_the_session_as_prompt_cache_key_and_no_markers():
    built = layout(model(Provider.OPENAI, "gpt-5"), "s", TOOLS, chat(3), [], "next", ids.SESSION_PREFIX + SESSION)
    body = chat_body(built.model_request(built.first_messages()))

    assert body["prompt_cache_key"] == ids.SESSION_PREFIX + SESSION
    assert "cachePoint" not in json.dumps(body) and body["messages"][0]["role"] == "system"


def test_a_bad_prompt_cache_option_is_the_clients_error():
    with pytest.raises(InvalidRequest, match="prompt_cache.ttl"):
        layout(model(prompt_cache={"ttl": "2h"}), "s", [], [], [], "q", None)


def test_a_cache_point_part_renders_as_bedrock_wants_it():
    from agentctx.providers.bedrock import converse_content

    assert converse_content(CachePoint("1h")) == {"cachePoint": {"type": "default", "ttl": "1h"}}
