"""`make serve`'s state on disk: the embedded DynamoDB tables and SQS queues, saved to one JSON file and restored at
the next start, so sessions, blocks, agents, events and keys outlive the process.

Why a dump through the AWS API rather than pickled moto objects: the file is plain DynamoDB JSON (items as `Scan`
returns them, messages as `SendMessage` takes them), readable, and independent of moto's internals and version.

Consistency: the queues are read first, then every table while no other DynamoDB request runs. A message is sent
after the write it follows, so a saved message always finds its write saved; a message consumed between the two
reads is saved too and is delivered once more after a restart (SQS promises at-least-once anyway).

Durability: a snapshot is written every SNAPSHOT_SECONDS when anything changed, and once more on a clean stop, to a
temporary file that is fsynced and then renamed over the previous one (rename is atomic), so a crash (kill -9,
power loss) loses at most the last SNAPSHOT_SECONDS of writes and never leaves a half-written snapshot.
"""

import base64
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


def _encode_value(value: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute value with its binary parts as base64 text (JSON has no bytes)."""
    (kind, inner), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(part).decode() for part in inner]}
    if kind == "M":
        return {"M": {name: _encode_value(part) for name, part in inner.items()}}
    if kind == "L":
        return {"L": [_encode_value(part) for part in inner]}
    return value


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    (kind, inner), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(part) for part in inner]}
    if kind == "M":
        return {"M": {name: _decode_value(part) for name, part in inner.items()}}
    if kind == "L":
        return {"L": [_decode_value(part) for part in inner]}
    return value


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
    import boto3

    client = boto3.client("dynamodb")
    saved_queues = {logical_id: _queue_messages(url) for logical_id, url in queues.items()}
    saved_tables: dict[str, list[dict[str, Any]]] = {}
    with dynamodb_paused():
        for logical_id, name in tables.items():
            items: list[dict[str, Any]] = []
            for page in client.get_paginator("scan").paginate(TableName=name):
                items.extend({key: _encode_value(value) for key, value in item.items()} for item in page["Items"])
            saved_tables[logical_id] = items
    return {
        "version": FORMAT_VERSION,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "local": local,
        "tables": saved_tables,
        "queues": saved_queues,
    }


def restore(state: dict[str, Any], tables: dict[str, str], queues: dict[str, str]) -> None:
    import boto3

    from agentctx.store.queue import sqs_client

    client = boto3.client("dynamodb")
    for logical_id, items in state["tables"].items():
        if logical_id not in tables:
            continue
        for start in range(0, len(items), 25):
            requests = [
                {"PutRequest": {"Item": {key: _decode_value(value) for key, value in item.items()}}}
                for item in items[start : start + 25]
            ]
            pending = {tables[logical_id]: requests}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
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

    def stop(self) -> None:
        super().stop()
        self.poll()
