"""The artifact ledger compaction carries: after a compaction the session has one pinned note listing the files its
compacted blocks touched and the decisions they stated; a later compaction updates that note, keeping its entries,
and never summarises it, a fork's compactions update the ledger it copied, and a leg that crashed after writing its
summaries still carries their artifacts; a session whose compacted blocks touched nothing gets none."""

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from agentctx.services.auto_compaction import CompactionParams
from agentctx.wiring import compaction_service
from tests.integration.compaction.helpers import assert_compacted_once, compaction_handler, function_context
from tests.integration.test_sessions_api import append, create_session, note

LEDGER_TAG = "artifact-ledger"


def filler(i: int) -> dict:
    """A block of about 500 tokens that touches no file and decides nothing."""
    return note(f"Filler {i}: " + "lorem ipsum dolor sit amet " * 100)


def working_blocks() -> list[dict]:
    return [
        note("We decided to use PostgreSQL because it supports JSONB. Next step: write the first migration."),
        {"type": "file", "content": {"path": "src/app/main.py", "content": "print('hi')", "language": "python"}},
        {"type": "diff", "content": {"path": "src/app/models.py", "diff": "@@ -1 +1 @@\n-a\n+b"}},
        {"type": "tool_result", "content": {"tool": "write_file", "input": {"path": "docs/setup.md"}, "output": "ok"}},
        {
            "type": "conversation",
            "content": [
                {
                    "role": "user",
                    "content": "Look at ./scripts/deploy.sh and README.md, not https://x.io/a.py or v1.2.3.",
                },
                {"role": "assistant", "content": "Let's use Ruff since it is fast."},
            ],
        },
    ]


def latest_question() -> dict:
    """The newest user message (compaction keeps it live), so the earlier conversation is compacted."""
    return {"type": "conversation", "content": [{"role": "user", "content": "Is that all?"}]}


def compact(api, session_id: str, **params) -> dict:
    response = api.post(f"/v1/aip/sessions/{session_id}/compact", json={"targetTokens": 8_000, **params})
    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert result["status"] == "completed" and result["blocksCompacted"] > 0, result
    return result


def ledgers(api, session_id: str) -> list[dict]:
    blocks = api.get(f"/v1/aip/sessions/{session_id}/blocks?include=content&includeCompacted=true&limit=200")
    return [block for block in blocks.json()["data"] if LEDGER_TAG in block["metadata"]["tags"]]


def test_a_compaction_leaves_one_pinned_ledger_of_the_files_and_decisions_it_covered(api, compaction_worker):
    session = create_session(api)
    worked = append(api, session["id"], *working_blocks(), *[filler(i) for i in range(20)], latest_question())

    result = compact(api, session["id"], preserveRecent=2)

    [ledger] = ledgers(api, session["id"])
    assert ledger["type"] == "note" and ledger["metadata"]["pinned"] is True
    assert not ledger["metadata"].get("compacted")
    text = ledger["content"]
    assert text.startswith("# Artifact ledger") and "## Files" in text and "## Decisions" in text
    for line in (
        f"- `src/app/main.py`: read [{worked[1]['id']}]",
        f"- `src/app/models.py`: edited [{worked[2]['id']}]",
        f"- `docs/setup.md`: wrote [{worked[3]['id']}]",
        f"- `./scripts/deploy.sh`: mentioned [{worked[4]['id']}]",
        f"- `README.md`: mentioned [{worked[4]['id']}]",
        f"- We decided to use PostgreSQL (because: it supports JSONB) [{worked[0]['id']}]",
        f"- Let's use Ruff (because: it is fast) [{worked[4]['id']}]",
        f"- write the first migration. [{worked[0]['id']}]",
    ):
        assert line in text.splitlines(), text
    assert "x.io" not in text and "1.2.3" not in text
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["pinnedBlocks"] == [ledger["id"]] and view["blocks"][0] == ledger["id"]
    assert result["targetReached"] is True and result["newTokens"] <= 8_000
    assert_compacted_once(api, session["id"], result)


def test_a_second_compaction_updates_the_same_ledger_and_keeps_its_entries(api, compaction_worker):
    session = create_session(api)
    append(api, session["id"], *working_blocks(), *[filler(i) for i in range(20)], latest_question())
    compact(api, session["id"], preserveRecent=2)
    [first] = ledgers(api, session["id"])
    later = append(
        api,
        session["id"],
        note("Decision: releases go out on Tuesdays."),
        {"type": "file", "content": {"path": "lib/util.ts", "content": "export {}"}},
        *[filler(100 + i) for i in range(20)],
        latest_question(),
    )

    result = compact(api, session["id"], preserveRecent=2, preservePinned=False)

    [second] = ledgers(api, session["id"])
    assert second["id"] == first["id"] and not second["metadata"].get("compacted")
    lines = second["content"].splitlines()
    assert f"- `lib/util.ts`: read [{later[1]['id']}]" in lines
    assert f"- Decision: releases go out on Tuesdays. [{later[0]['id']}]" in lines
    assert all(line in lines for line in first["content"].splitlines() if line.startswith("- "))
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["metrics"]["compactionCount"] == 2 and view["pinnedBlocks"] == [second["id"]]
    assert_compacted_once(api, session["id"], result)


def test_a_session_whose_compacted_blocks_touched_nothing_gets_no_ledger(api, compaction_worker):
    session = create_session(api)
    append(api, session["id"], *[filler(i) for i in range(20)])

    result = compact(api, session["id"], preserveRecent=2)

    assert ledgers(api, session["id"]) == []
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert (
        view["pinnedBlocks"] == []
        and view["metrics"]["blockCount"] == 20 - result["blocksCompacted"] + result["summariesCreated"]
    )
    assert_compacted_once(api, session["id"], result)


def test_a_fork_carries_its_sources_ledger_and_its_compactions_update_that_one(api, compaction_worker):
    source = create_session(api)
    append(api, source["id"], *working_blocks(), *[filler(i) for i in range(20)], latest_question())
    compact(api, source["id"], preserveRecent=2)
    [copied] = ledgers(api, source["id"])
    forked = api.post(f"/v1/aip/sessions/{source['id']}/fork", json={"name": "Fork", "includePinned": True})
    assert forked.status_code == 201, forked.text
    fork = forked.json()
    later = append(api, fork["data"]["id"], note("We settled on gRPC."), *[filler(i) for i in range(20)])

    compact(api, fork["data"]["id"], preserveRecent=2)

    [ledger] = ledgers(api, fork["data"]["id"])
    lines = ledger["content"].splitlines()
    assert f"- We settled on gRPC. [{later[0]['id']}]" in lines
    assert [line for line in lines if "src/app/main.py" in line] == [
        line for line in copied["content"].splitlines() if "src/app/main.py" in line
    ]


def test_a_leg_that_crashed_after_writing_its_summaries_still_carries_their_artifacts(api, aws, monkeypatch):
    from agentctx.store.queue import sqs_client
    from infra.local_worker import sqs_event

    session = create_session(api)
    worked = append(api, session["id"], *working_blocks(), *[filler(i) for i in range(20)], latest_question())
    service = compaction_service()
    save_progress = service.store.compaction_jobs.save_progress

    def checkpoint_lost_after_writing(tenant_id, session_hex, job):
        if job.get("stepsDone"):
            raise RuntimeError("the function's container died before its checkpoint")
        save_progress(tenant_id, session_hex, job)

    monkeypatch.setattr(service.store.compaction_jobs, "save_progress", checkpoint_lost_after_writing)
    job = service.request(api.tenant_id, session["id"], CompactionParams(target_tokens=8_000, preserve_recent=2))
    message = sqs_client().receive_message(QueueUrl=aws["CompactionQueue"])["Messages"][0]
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q")
    with pytest.raises(BatchProcessingError):
        compaction_handler()(event, function_context())
    listed = api.get(f"/v1/aip/sessions/{session['id']}/blocks?limit=200").json()["data"]
    assert [block["type"] for block in listed].count("summary") == 1  # written, but not checkpointed
    assert ledgers(api, session["id"]) == []
    monkeypatch.setattr(service.store.compaction_jobs, "save_progress", save_progress)

    assert compaction_handler()(event, function_context()) == {"batchItemFailures": []}

    result = service.get(api.tenant_id, session["id"], job["id"])
    assert result["status"] == "completed" and result["summariesCreated"] == 1
    [ledger] = ledgers(api, session["id"])
    assert f"- `src/app/models.py`: edited [{worked[2]['id']}]" in ledger["content"].splitlines()
    assert_compacted_once(api, session["id"], result)
