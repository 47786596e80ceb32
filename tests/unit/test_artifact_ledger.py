"""The artifact ledger's extractor: which words are paths (not URLs, versions or prose), which sentences are
decisions and next steps, the bounds, and that the rendered ledger reads back as it was written."""

import pytest

from agentctx import ids
from agentctx.domain import Block, BlockType
from agentctx.services.artifact_ledger import (
    MAX_DECISIONS,
    MAX_PATHS,
    extract,
    is_path,
    merge,
    parse,
    paths_in_text,
    render,
    render_within,
)

SESSION = "a" * 32


def block(block_type: BlockType, content) -> Block:
    return Block(SESSION, ids.new_order_key(), block_type, content, 10, [], False, 0.5, "t")


@pytest.mark.parametrize(
    "word", ["src/app/main.py", "./x/y.ts", "../lib/util.go", "README.md", "~/notes/todo.txt", "/etc/hosts", "docs/"]
)
def test_paths_are_recognised(word):
    assert is_path(word)


@pytest.mark.parametrize(
    "word",
    ["v1.2.3", "1.2.3", "3.11", "python3.11", "e.g", "and/or", "24/7", "1/2.5", "example.com", "me@x.io", "3/"],
)
def test_versions_prose_and_addresses_are_not_paths(word):
    assert not is_path(word)


def test_urls_in_text_are_not_paths():
    text = "See https://example.com/src/main.py, www.example.org/a.md and ftp://h/x.txt; edit `src/app.py`."

    assert paths_in_text(text) == ["src/app.py"]


def test_each_block_type_touches_its_paths_with_its_action():
    blocks = [
        block(BlockType.FILE, {"path": "a/read.py", "content": ""}),
        block(BlockType.DIFF, {"path": "a/edited.py", "diff": ""}),
        block(BlockType.TOOL_RESULT, {"tool": "create_file", "input": {"filename": "a/new.py"}, "output": "ok"}),
        block(BlockType.TOOL_RESULT, {"tool": "apply_patch", "input": {"file": "a/patched.py"}, "output": "ok"}),
        block(BlockType.NOTE, "Remember a/said.md and a/read.py."),
        block(BlockType.CONVERSATION, [{"role": "tool", "content": "a/tool_output.py"}]),
    ]

    files = extract(blocks)["files"]

    assert {path: entry["actions"] for path, entry in files.items()} == {
        "a/read.py": ["read", "mentioned"],
        "a/edited.py": ["edited"],
        "a/new.py": ["wrote"],
        "a/patched.py": ["edited"],
        "a/said.md": ["mentioned"],
    }
    assert files["a/read.py"]["block"] == blocks[4].id  # the newest block that touched it


def test_decisions_keep_their_reason_and_next_steps_their_task():
    text = (
        "We'll go with SQS since it retries for us. Decision: no ORM. I chose Redis because it is fast. "
        "The weather is nice. Next step: add the queue. TODO write docs."
    )

    ledger = extract([block(BlockType.NOTE, text)])

    assert [(d["text"], d["reason"]) for d in ledger["decisions"]] == [
        ("We'll go with SQS", "it retries for us"),
        ("Decision: no ORM.", None),
        ("I chose Redis", "it is fast"),
    ]
    assert [step["text"] for step in ledger["nextSteps"]] == ["add the queue.", "write docs."]


def test_the_newest_entries_are_kept_within_the_bounds():
    notes = [block(BlockType.NOTE, f"We decided on option {i}. See dir/file{i}.py.") for i in range(MAX_PATHS + 10)]

    ledger = extract(notes)

    assert len(ledger["files"]) == MAX_PATHS and "dir/file9.py" not in ledger["files"]
    assert f"dir/file{MAX_PATHS + 9}.py" in ledger["files"]
    assert len(ledger["decisions"]) == MAX_DECISIONS
    assert ledger["decisions"][-1]["text"] == f"We decided on option {MAX_PATHS + 9}."


def test_a_rendered_ledger_reads_back_and_merges_with_newer_entries():
    older = extract([block(BlockType.NOTE, "Let's use tabs because reasons. Open src/a.py. Next: ship it.")])
    newer = extract([block(BlockType.DIFF, {"path": "src/a.py", "diff": ""})])

    assert parse(render(older)) == older
    merged = merge(parse(render(older)), newer)
    assert merged["files"]["src/a.py"] == {
        "actions": ["edited", "mentioned"],
        "block": newer["files"]["src/a.py"]["block"],
    }
    assert merged["decisions"] == older["decisions"] and merged["nextSteps"] == older["nextSteps"]


def test_a_ledger_over_its_budget_keeps_its_newest_entries():
    ledger = extract([block(BlockType.NOTE, f"See src/file{i}.py.") for i in range(50)])

    text = render_within(ledger, 600, len)  # one token a character

    assert text is not None and len(text) <= 600
    kept = parse(text)["files"]
    assert "src/file49.py" in kept and "src/file0.py" not in kept
    assert render_within(ledger, 10, len) is None


def test_a_decision_with_its_reason_in_the_next_sentence_and_an_approved_answer_are_decisions():
    from agentctx.domain import utc_now

    note = Block(
        "a" * 32,
        ids.new_order_key(),
        BlockType.NOTE,
        "Decision for PDF rendering: WeasyPrint, not wkhtmltopdf. Reason: a smaller package.",
        20,
        [],
        False,
        0.5,
        utc_now(),
    )
    talk = [
        {"role": "user", "content": "SQS FIFO or Kinesis for the job queue?"},
        {"role": "assistant", "content": "SQS FIFO. The deciding point: per-tenant ordering. Kinesis would work too."},
        {"role": "user", "content": "OK, go with that."},
    ]
    unapproved = [talk[0], talk[1], {"role": "user", "content": "Let me think about it."}]
    blocks = [note] + [
        Block("a" * 32, ids.new_order_key(), BlockType.CONVERSATION, content, 30, [], False, 0.5, utc_now())
        for content in (talk, unapproved)
    ]

    decisions = extract(blocks)["decisions"]

    assert [(d["text"], d["reason"]) for d in decisions] == [
        ("Decision for PDF rendering: WeasyPrint, not wkhtmltopdf.", "a smaller package"),
        ("SQS FIFO or Kinesis for the job queue? SQS FIFO.", "per-tenant ordering"),
    ]
    assert decisions[1]["block"] == blocks[1].id
