"""`make serve`'s state on disk: the embedded DynamoDB tables and SQS queues, saved to one JSON file and restored at
the next start, so sessions, blocks, agents, events and keys outlive the process.

Why a dump rather than pickled moto objects: the file is plain DynamoDB JSON (items as `Scan` returns them, messages
as `SendMessage` takes them), readable, and independent of moto's classes and version. The items are read from and
written to moto's table objects directly (`Item.to_json`, `put_item`), not through Scan and BatchWriteItem: moto's
Scan took 40 s for 10,000 blocks, the direct read takes a fraction of a second (figures: tests/benchmarks/
local_state_bench.py). SQS has no API to read a message without receiving it, so messages are read from moto too.

Consistency: the queues are read first, then every table while no other DynamoDB request runs. A message is sent
after the write it follows, so a saved message always finds its write saved; a message consumed between the two
reads is saved too and is delivered once more after a restart (SQS promises at-least-once anyway).

Durability: a snapshot is written every SNAPSHOT_SECONDS when anything changed, and once more on a clean stop, to a
temporary file that is fsynced and then renamed over the previous one (rename is atomic), so a crash (kill -9,
power loss) loses at most the last SNAPSHOT_SECONDS of writes and never leaves a half-written snapshot.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

from infra.local_aws import dynamodb_paused, dynamodb_write_count
from infra.local_worker import BackgroundPoller

SNAPSHOT_SECONDS = 2.0
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


def capture(tables: dict[str, str], queues: dict[str, str], local: dict[str, Any]) -> dict[str, Any]:
    """The whole embedded state: tables and queues by logical id (names may change between runs), and `local`
    (the local tenant and its keys)."""
    saved_queues = {logical_id: _queue_messages(url) for logical_id, url in queues.items()}
    backend = _dynamodb_backend()
    with dynamodb_paused():
        saved_tables = {
            logical_id: [item.to_json()["Attributes"] for item in backend.get_table(name).all_items()]
            for logical_id, name in tables.items()
        }
    return {
        "version": FORMAT_VERSION,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "local": local,
        "tables": saved_tables,
        "queues": saved_queues,
    }


def restore(state: dict[str, Any], tables: dict[str, str], queues: dict[str, str]) -> None:
    """Before anything else runs: the items go straight into moto's tables, the messages through SendMessage."""
    from agentctx.store.queue import sqs_client

    backend = _dynamodb_backend()
    with dynamodb_paused():
        for logical_id, items in state["tables"].items():
            for item in items if logical_id in tables else []:
                backend.put_item(tables[logical_id], item)
    for logical_id, messages in state["queues"].items():
        for message in messages if logical_id in queues else []:
            sqs_client().send_message(QueueUrl=queues[logical_id], **message)


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


def load(folder: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none yet."""
    path = folder / STATE_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UnreadableState(f"{path} cannot be read ({error})") from error
    if not isinstance(state, dict) or state.get("version") != FORMAT_VERSION:
        raise UnreadableState(f"{path} is not a state file of this version")
    return state


class Snapshotter(BackgroundPoller):
    """Saves the state every SNAPSHOT_SECONDS when a DynamoDB write or a queue's messages changed since the last save,
    and once more when stopped."""

    def __init__(
        self,
        folder: Path,
        tables: dict[str, str],
        queues: dict[str, str],
        local: dict[str, Any],
        seconds: float = SNAPSHOT_SECONDS,
    ) -> None:
        super().__init__()
        self.pause_seconds = seconds
        self.path = folder / STATE_FILE
        self.tables, self.queues, self.local = tables, queues, local
        self._saved_mark: tuple[Any, ...] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def _change_mark(self) -> tuple[Any, ...]:
        queue_ids = (tuple(message.id for message in _held_messages(url)) for url in self.queues.values())
        return (dynamodb_write_count(), *queue_ids)

    def poll(self) -> int:
        mark = self._change_mark()
        if mark == self._saved_mark:
            return 0
        write_atomically(self.path, capture(self.tables, self.queues, self.local))
        self._saved_mark = mark
        return 1

    def start(self) -> "Snapshotter":
        """Saves once before it returns, so from the moment the server answers, the saved keys are those in use."""
        self.poll()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.poll()
