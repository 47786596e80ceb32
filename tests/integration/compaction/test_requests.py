"""Compaction requested through the API: the seed's call answered once the job is done, with everything kept;
`Prefer: respond-async` answered 202 with the job; a session compacted twice; a target that cannot be met."""

from infra.local_worker import QueueWorker
from tests.integration.compaction.helpers import compaction_handler, fill, long_note
from tests.integration.test_sessions_api import append


def test_compact_answers_the_seed_fields_and_keeps_everything(api, compaction_worker):
    session, created = fill(api)
    pinned_id = created[3]["id"]
    api.patch(f"/v1/aip/blocks/{pinned_id}", json={"pinned": True})
    before = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["totalTokens"]

    response = api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 600, "preservePinned": True})

    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert result["status"] == "completed" and result["id"].startswith("cmp_")
    assert result["previousTokens"] == before
    assert result["newTokens"] <= 600 and result["targetReached"] is True
    assert result["blocksCompacted"] > 0 and result["summariesCreated"] >= 1
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["metrics"]["totalTokens"] == result["newTokens"]
    assert view["metrics"]["compactionCount"] == 1
    assert view["metrics"]["blockCount"] == 20 - result["blocksCompacted"] + result["summariesCreated"]
    assert pinned_id in view["blocks"] and view["pinnedBlocks"] == [pinned_id]
    assert all(block["id"] in view["blocks"] for block in created[-5:])
    everything = api.get(f"/v1/aip/sessions/{session['id']}/blocks?includeCompacted=true&limit=200").json()["data"]
    compacted = [b for b in everything if b["metadata"].get("compacted")]
    assert len(compacted) == result["blocksCompacted"] and len(everything) == 20 + result["summariesCreated"]
    summary = api.get(f"/v1/aip/blocks/{compacted[0]['metadata']['compactedBy']}").json()["data"]
    assert summary["type"] == "summary" and summary["metadata"]["compactionLevel"] == 1
    covered = summary["metadata"]["summaryOf"]["blockIds"]
    assert compacted[0]["id"] in covered
    assert set(summary["metadata"]["tags"]) == {
        tag for b in compacted if b["id"] in covered for tag in b["metadata"]["tags"]
    }
    assert api.get(f"/v1/aip/blocks/{covered[0]}").json()["data"]["content"].startswith("Note 0")


def test_respond_async_answers_202_with_the_job_and_its_location(api, aws):
    session, _ = fill(api, 8)

    response = api.post(
        f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 100}, headers={"Prefer": "respond-async"}
    )

    assert response.status_code == 202
    job = response.json()["data"]
    assert job["status"] == "queued"
    assert response.headers["Location"] == f"/v1/aip/sessions/{session['id']}/compactions/{job['id']}"
    QueueWorker(aws["CompactionQueue"], compaction_handler()).poll(wait_seconds=0)
    done = api.get(response.headers["Location"]).json()["data"]
    assert done["status"] == "completed" and done["startedAt"] and done["completedAt"]
    listed = api.get(f"/v1/aip/sessions/{session['id']}/compactions").json()["data"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_a_session_compacted_twice_gets_summaries_of_summaries(api, compaction_worker):
    session, _ = fill(api, 30)
    first = api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 900, "preserveRecent": 2})
    append(api, session["id"], *[long_note(100 + i) for i in range(5)])

    second = api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 150, "preserveRecent": 1})

    assert first.status_code == second.status_code == 200, second.text
    view = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]
    assert view["metrics"]["compactionCount"] == 2
    levels = [api.get(f"/v1/aip/blocks/{b}").json()["data"]["metadata"]["compactionLevel"] for b in view["blocks"]]
    assert max(levels) == 2
    assert view["metrics"]["totalTokens"] == second.json()["data"]["newTokens"]


def test_unreachable_target_says_why(api, compaction_worker):
    session, _ = fill(api, 4, pinned=True)

    result = api.post(f"/v1/aip/sessions/{session['id']}/compact", json={"targetTokens": 10}).json()["data"]

    assert result["targetReached"] is False and "pinned and recent" in result["reason"]
    assert result["blocksCompacted"] == 0
