"""`make serve`'s saved state: the log keeps what was answered, and a file that cannot be restored whole is refused
with one line and left as it is."""

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from infra import local_journal
from infra.local_journal import Journal, UnreadableJournal
from infra.local_state import STATE_FILE, UnreadableState, load

TABLES = ["ContextTable", "TenantsTable"]


def saved(**changes: Any) -> dict[str, Any]:
    return {"version": 1, "lsn": 0, "local": {}, "tables": {"ContextTable": [], "TenantsTable": []}, "queues": {}} | (
        changes
    )


def refused(folder: Path, content: str) -> str:
    (folder / STATE_FILE).write_text(content)
    with pytest.raises(UnreadableState) as refusal:
        load(folder, TABLES)
    assert (folder / STATE_FILE).read_text() == content
    assert "\n" not in str(refusal.value)
    return str(refusal.value)


def test_a_snapshot_without_a_table_of_the_template_is_refused(tmp_path):
    message = refused(tmp_path, json.dumps(saved(tables={"ContextTable": []})))

    assert message.endswith("lacks the table TenantsTable")


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps([1, 2]),
        json.dumps(saved(tables={"ContextTable": {}, "TenantsTable": []})),
        json.dumps(saved(tables={"ContextTable": ["item"], "TenantsTable": []})),
        json.dumps(saved(queues=[])),
        json.dumps(saved(local="key")),
        json.dumps(saved(lsn="7")),
        json.dumps(saved(stream={})),
    ],
    ids=["bad json", "not an object", "table not a list", "item not an object", "queues", "local", "lsn", "stream"],
)
def test_a_snapshot_with_a_value_of_the_wrong_type_is_refused(tmp_path, content):
    refused(tmp_path, content)


def write_log(folder: Path, count: int) -> Path:
    journal = Journal(folder, 0)
    for index in range(count):
        journal.wait_durable(journal.append({"url": "u", "headers": {}, "body": str(index)}))
    journal.close()
    (segment,) = local_journal.segments(folder)
    return segment


def test_a_torn_last_record_is_dropped_and_cut_off(tmp_path):
    segment = write_log(tmp_path, 3)
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-7])

    records, last = local_journal.read(tmp_path, after=0)

    assert [record["body"] for record in records] == ["0", "1"] and last == 2
    assert segment.read_bytes() == whole[: whole.rindex(b"\n", 0, -1) + 1]


def test_a_damaged_record_before_the_last_is_refused_and_left_as_it_is(tmp_path):
    segment = write_log(tmp_path, 3)
    damaged = segment.read_bytes().replace(b'"body":"1"', b'"body":"X"')
    segment.write_bytes(damaged)

    with pytest.raises(UnreadableJournal, match="damaged record"):
        local_journal.read(tmp_path, after=0)
    assert segment.read_bytes() == damaged


def test_a_log_that_does_not_follow_on_from_the_snapshot_is_refused(tmp_path):
    segment = write_log(tmp_path, 3)
    assert [record["lsn"] for record in local_journal.read(tmp_path, after=2)[0]] == [3]
    segment.write_bytes(b"".join(segment.read_bytes().splitlines(keepends=True)[1:]))

    with pytest.raises(UnreadableJournal, match="jumps from record 0 to 2"):
        local_journal.read(tmp_path, after=0)


def test_writers_waiting_together_share_one_fsync(tmp_path, monkeypatch):
    import os

    journal = Journal(tmp_path, 0)
    fsyncs: list[int] = []
    release = threading.Event()

    def slow_fsync(descriptor: int) -> None:
        fsyncs.append(descriptor)
        release.wait(5)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    first = threading.Thread(target=journal.wait_durable, args=(journal.append({"n": 1}),))
    first.start()
    while not fsyncs:
        threading.Event().wait(0.001)
    later = [journal.append({"n": n}) for n in range(2, 12)]
    waiters = [threading.Thread(target=journal.wait_durable, args=(lsn,)) for lsn in later]
    for waiter in waiters:
        waiter.start()
    release.set()
    for thread in [first, *waiters]:
        thread.join()

    assert len(fsyncs) == 2  # the first record's, then one for the ten that waited behind it
