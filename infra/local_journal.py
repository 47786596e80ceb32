"""`make serve`'s write-ahead log: every write the embedded DynamoDB and SQS accepted, on disk before it is answered.

- A record is the request as moto received it (URL, target, body) with a log sequence number (LSN), one line each:
  `<crc32 hex> <json>`. It is appended while the service's lock is held (so LSN order is the order moto applied
  the writes) and fsynced after the lock is released, before the answer leaves: writers that wait together share
  one fsync (group commit).
- Logged: DynamoDB's writing actions that moto accepted (a refused one changed nothing) and SQS's sends. Deleting or
  receiving a message is not logged: after a crash such a message is delivered again, as SQS may always do.
- The log is kept in segments, each named for its first LSN; a snapshot records the LSN it covers, and the segments
  it covers are then deleted. A start replays, in order, the records after the snapshot's LSN: moto judges each
  conditional write again on the same state, so it decides as it did.
- A torn last record (the crash cut its write) is expected and dropped; any other record that cannot be read means
  the log is not what was written, and it is refused, untouched.
"""

import json
import os
import threading
import zlib
from pathlib import Path
from typing import Any, BinaryIO

SEGMENT_PREFIX, SEGMENT_SUFFIX = "journal-", ".log"


class UnreadableJournal(Exception):
    pass


def _encode(lsn: int, record: dict[str, Any]) -> bytes:
    payload = json.dumps({"lsn": lsn, **record}, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _decode(line: bytes) -> dict[str, Any] | None:
    """The record of a whole, intact line, else None."""
    checksum, _, payload = line.rstrip(b"\n").partition(b" ")
    try:
        if not line.endswith(b"\n") or int(checksum, 16) != zlib.crc32(payload):
            return None
        record = json.loads(payload)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("lsn"), int) else None


def segments(folder: Path) -> list[Path]:
    """The log's segments, oldest first."""
    found = [path for path in folder.glob(f"{SEGMENT_PREFIX}*{SEGMENT_SUFFIX}") if _first_lsn(path) is not None]
    return sorted(found, key=lambda path: _first_lsn(path) or 0)


def _first_lsn(path: Path) -> int | None:
    number = path.name.removeprefix(SEGMENT_PREFIX).removesuffix(SEGMENT_SUFFIX)
    return int(number) if number.isdigit() else None


def read(folder: Path, after: int) -> tuple[list[dict[str, Any]], int]:
    """The records after LSN `after`, in order, and the last LSN the log holds (`after` when none is newer).

    - Refused (UnreadableJournal): a record that cannot be read anywhere but at the very end, or a gap in the LSNs.
    - A torn end is cut off the file, so that the next segment does not leave it in the middle of the log.
    """
    found, last, torn_at = [], after, None
    paths = segments(folder)
    for position, path in enumerate(paths):
        data = path.read_bytes()
        lines = data.splitlines(keepends=True)
        offset = 0
        for index, line in enumerate(lines):
            record = _decode(line)
            if record is None:
                if position == len(paths) - 1 and index == len(lines) - 1:
                    torn_at = (path, offset)
                    break
                raise UnreadableJournal(f"{path} has a damaged record at byte {offset}")
            offset += len(line)
            lsn = record["lsn"]
            if lsn <= after:
                continue
            if lsn != last + 1:
                raise UnreadableJournal(f"{path} jumps from record {last} to {lsn}: part of the log is missing")
            found.append(record)
            last = lsn
    if torn_at is not None:
        os.truncate(*torn_at)
    return found, last


class Journal:
    """The open log: `append` under the service's lock, then `wait_durable` outside it, before answering."""

    def __init__(self, folder: Path, last_lsn: int) -> None:
        self.folder = folder
        self._lock = threading.Lock()  # the LSN and the records not yet written
        self._flush_lock = threading.Lock()  # one writer of the file at a time
        self._lsn = self._durable = last_lsn
        self._waiting: list[bytes] = []
        self.bytes_since_rotation = 0
        self._file = self._open_segment(last_lsn + 1)

    @property
    def lsn(self) -> int:
        """The last LSN given: every write moto applied up to now has one at most this."""
        return self._lsn

    def _open_segment(self, first_lsn: int) -> BinaryIO:
        path = self.folder / f"{SEGMENT_PREFIX}{first_lsn:020d}{SEGMENT_SUFFIX}"
        file = open(path, "ab", opener=lambda name, flags: os.open(name, flags, 0o600))  # noqa: SIM115 - kept open
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # the new segment's name survives a power cut
        finally:
            os.close(directory)
        return file

    def append(self, record: dict[str, Any]) -> int:
        """Gives the record the next LSN; the caller holds the lock under which moto applied it."""
        with self._lock:
            self._lsn += 1
            line = _encode(self._lsn, record)
            self._waiting.append(line)
            self.bytes_since_rotation += len(line)
            return self._lsn

    def wait_durable(self, lsn: int) -> None:
        """Returns once the record `lsn` is fsynced; whoever flushes writes every record waiting, with one fsync."""
        if self._durable >= lsn:
            return
        with self._flush_lock:
            if self._durable < lsn:
                self._flush()

    def _flush(self) -> None:
        with self._lock:
            lines, self._waiting, through = self._waiting, [], self._lsn
        self._file.write(b"".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._durable = through

    def rotate(self) -> int:
        """Ends the segment at the current LSN (returned) and starts the next one. The caller holds every lock under
        which records are appended, so the LSN it gets is exactly what its state includes."""
        with self._flush_lock:
            self._flush()
            self._file.close()
            self._file = self._open_segment(self._lsn + 1)
            self.bytes_since_rotation = 0
            return self._lsn

    def drop_before(self, lsn: int) -> None:
        """Deletes the segments whose records all have LSNs up to `lsn` (a snapshot of `lsn` is durable)."""
        paths = segments(self.folder)
        for path, following in zip(paths, paths[1:], strict=False):
            if (_first_lsn(following) or 0) <= lsn + 1:
                path.unlink()

    def close(self) -> None:
        with self._flush_lock:
            self._flush()
            self._file.close()


def replay(records: list[dict[str, Any]]) -> None:
    """Applies logged writes again, in order, as moto received them (through its own dispatcher: no client
    re-encodes them). Each was accepted once; one refused now means the state is not the one it was written on."""
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.compat import HTTPHeaders
    from moto.core.models import botocore_stubber

    for record in records:
        headers = HTTPHeaders()
        try:
            for name, value in record["headers"].items():
                headers[name] = value
            body = record["body"].encode()
            request = AWSPreparedRequest("POST", record["url"], headers, body, stream_output=False)
        except (KeyError, AttributeError, TypeError) as error:
            raise UnreadableJournal(f"logged write {record['lsn']} is not a request ({error!r})") from error
        answer = botocore_stubber.process_request(request)
        if answer is None or answer[0] >= 400:
            raise UnreadableJournal(f"logged write {record['lsn']} was accepted, and is refused when replayed")
