"""`make serve`'s state on disk: the embedded DynamoDB tables and SQS queues, saved to one JSON file and restored at
the next start, so sessions, blocks, agents, events and keys outlive the process.

Why a dump rather than pickled moto objects: the file is plain DynamoDB JSON (items as `Scan` returns them, messages
as `SendMessage` takes them), readable, and independent of moto's classes and version. The items are read from and
written to moto's table objects directly (`Item.to_json`, `put_item`), not through Scan and BatchWriteItem: moto's
Scan took 40 s for 10,000 blocks, the direct read takes a fraction of a second (figures: tests/benchmarks/
local_state_bench.py). SQS has no API to read a message without receiving it, so messages are read from moto too.

Durability: every write the embedded DynamoDB and SQS accept is in the log (infra/local_journal.py), fsynced,
before it is answered; a start restores the snapshot and replays the log after it. A snapshot only bounds the log (and
so the start's replay): it is taken when the log since the last one passed SNAPSHOT_LOG_BYTES, or SNAPSHOT_SECONDS
went by with writes, and on a clean stop. Taking one holds every DynamoDB and SQS request only while the log moves to
a new segment and the process forks (55-70 ms at 100 MB; copying the tables under the locks held them 1.3 s): the
child's memory is the state at that LSN, frozen by copy-on-write, and the child copies the tables and queues and writes
the file, to a temporary file that is fsynced and renamed over the previous one (rename is atomic). The log segments
it covers are deleted once it is durable; a crash before that only leaves them to be skipped at the next start.

The table's stream is the turns' outbox (a committed turn item dispatches its job, agentctx/store/turn_jobs.py): a
snapshot keeps the stream records the publisher had not yet handled, and a start hands it those first, then the
records of the replayed writes, which the embedded stream carries again. Nothing it had handled is handed to it
again (a record handled while the snapshot was being copied may be, which its handler tolerates); a redelivered
queue message is possible (a delete is not logged), as SQS itself may redeliver.

Refused, each with one line, the files left as they are: a snapshot that is not JSON, not of this version, lacks a
table of the template, holds values of the wrong type or items moto rejects, and a log with a damaged record or a gap
anywhere but at its torn end (infra/local_journal.py).
"""

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from infra.local_aws import writes_paused
from infra.local_journal import Journal
from infra.local_worker import BackgroundPoller

SNAPSHOT_SECONDS = 60.0
SNAPSHOT_LOG_BYTES = 64 * 1024 * 1024
FORMAT_VERSION = 1
STATE_FILE = "state.json"


class UnreadableState(Exception):
    pass


def _dynamodb_backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]


def _held_messages(queue_url: str) -> list[Any]:
    """The messages a queue holds, in flight or not. SQS's API cannot read a message without receiving it (which
    would delay its delivery), so this read goes to moto's queue object."""
    from moto.sqs.models import sqs_backends

    account, region, name = queue_url.split("/")[-2], queue_url.split(".")[1], queue_url.rsplit("/", 1)[1]
    return list(sqs_backends[account][region].queues[name]._messages)


def _queue_messages(queue_url: str) -> list[dict[str, Any]]:
    """The messages a queue holds, as SendMessage arguments."""
    saved = []
    for message in _held_messages(queue_url):
        arguments: dict[str, Any] = {"MessageBody": message.body}
        if message.group_id:
            arguments["MessageGroupId"] = message.group_id
            arguments["MessageDeduplicationId"] = message.deduplication_id
        saved.append(arguments)
    return saved


def capture(
    tables: dict[str, str],
    queues: dict[str, str],
    local: dict[str, Any],
    lsn: int = 0,
    stream: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole embedded state: tables and queues by logical id (names may change between runs), `local` (the
    local tenant and its keys), the log's LSN it includes and the stream records not yet handled. Read from moto's
    objects: nothing may write meanwhile (`writes_paused`, or the snapshot's forked process)."""
    backend = _dynamodb_backend()
    return {
        "version": FORMAT_VERSION,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "lsn": lsn,
        "local": local,
        "tables": {
            logical_id: [item.to_json()["Attributes"] for item in backend.get_table(name).all_items()]
            for logical_id, name in tables.items()
        },
        "queues": {logical_id: _queue_messages(url) for logical_id, url in queues.items()},
        "stream": stream or [],
    }


def restore(state: dict[str, Any], tables: dict[str, str], queues: dict[str, str]) -> None:
    """Before anything else runs: the items go straight into moto's tables, the messages through SendMessage."""
    from agentctx.store.queue import sqs_client

    backend = _dynamodb_backend()
    try:
        with writes_paused():
            for logical_id, items in state["tables"].items():
                for item in items if logical_id in tables else []:
                    backend.put_item(tables[logical_id], item)
        for logical_id, messages in state["queues"].items():
            for message in messages if logical_id in queues else []:
                sqs_client().send_message(QueueUrl=queues[logical_id], **message)
    except Exception as error:  # whatever moto or the client refuse in it: the file cannot be restored whole
        raise UnreadableState(f"the saved state cannot be restored ({error!r})") from error


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """The new file replaces the old whole or not at all: written beside it, fsynced, renamed over it, and the
    folder fsynced so the rename itself survives a power cut."""
    temporary = path.with_name(path.name + ".tmp")
    # only its owner reads it: it holds the local keys
    with open(temporary, "w", encoding="utf-8", opener=lambda name, flags: os.open(name, flags, 0o600)) as file:
        json.dump(data, file, separators=(",", ":"))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def load(folder: Path, tables: Iterable[str]) -> dict[str, Any] | None:
    """The saved state, or None when there is none yet; refused (UnreadableState) unless it holds every table of
    `tables` and each part has its type."""
    path = folder / STATE_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UnreadableState(f"{path} cannot be read ({error})") from error
    if not isinstance(state, dict) or state.get("version") != FORMAT_VERSION:
        raise UnreadableState(f"{path} is not a state file of this version")
    state.setdefault("lsn", 0)  # a snapshot from before the log
    state.setdefault("stream", [])
    missing = [logical_id for logical_id in tables if logical_id not in state.get("tables", {})]
    if missing:
        raise UnreadableState(f"{path} lacks the table {', '.join(missing)}")
    if not (
        isinstance(state["lsn"], int)
        and isinstance(state.get("local"), dict)
        and _lists_of_objects(state["tables"])
        and _lists_of_objects(state.get("queues"))
        and _lists_of_objects({"stream": state["stream"]})
    ):
        raise UnreadableState(f"{path} holds a value of the wrong type")
    return state


def _lists_of_objects(parts: Any) -> bool:
    return isinstance(parts, dict) and all(
        isinstance(part, list) and all(isinstance(value, dict) for value in part) for part in parts.values()
    )


class Snapshotter(BackgroundPoller):
    """Saves the state when the log since the last save passed `log_bytes`, or `seconds` went by with writes, and
    once more when stopped (then it closes the log)."""

    pause_seconds = 0.5  # how often it looks

    def __init__(
        self,
        folder: Path,
        tables: dict[str, str],
        queues: dict[str, str],
        local: dict[str, Any],
        journal: Journal,
        unhandled: Callable[[], list[dict[str, Any]]],
        seconds: float = SNAPSHOT_SECONDS,
        log_bytes: int = SNAPSHOT_LOG_BYTES,
    ) -> None:
        super().__init__()
        self.path = folder / STATE_FILE
        self.tables, self.queues, self.local = tables, queues, local
        self.journal, self.unhandled = journal, unhandled
        self.seconds, self.log_bytes = seconds, log_bytes
        self._saved_lsn: int | None = None
        self._saved_at = time.monotonic()
        self._one_at_a_time = threading.Lock()

    def poll(self, force: bool = False) -> int:
        with self._one_at_a_time:  # the last one, on stop, may start while a long one still runs
            return self._snapshot_if_due(force)

    def _snapshot_if_due(self, force: bool) -> int:
        due = self.journal.bytes_since_rotation >= self.log_bytes or time.monotonic() - self._saved_at >= self.seconds
        if self.journal.lsn == self._saved_lsn or not (due or force):
            return 0
        with writes_paused():
            lsn, stream = self.journal.rotate(), self.unhandled()
            child = os.fork()
            if child == 0:
                self._write_and_exit(lsn, stream)
        _, status = os.waitpid(child, 0)
        if status != 0:
            raise RuntimeError(f"the snapshot's process failed (status {status}); the log keeps every write")
        self.journal.drop_before(lsn)
        self._saved_lsn, self._saved_at = lsn, time.monotonic()
        return 1

    def _write_and_exit(self, lsn: int, stream: list[dict[str, Any]]) -> None:
        """In the forked process: its memory is the state at `lsn`, frozen (copy-on-write), so the writes go on in
        the server while this one copies the tables and writes the file (a copy under the lock held writes for
        1.3 s at 100 MB of small items)."""
        try:
            write_atomically(self.path, capture(self.tables, self.queues, self.local, lsn, stream))
        except BaseException:
            os._exit(1)
        os._exit(0)

    def start(self) -> "Snapshotter":
        """Saves once before it returns, so from the moment the server answers, the saved keys are those in use."""
        self.poll(force=True)
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.poll(force=True)
        self.journal.close()
