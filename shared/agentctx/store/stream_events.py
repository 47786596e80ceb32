"""Domain events derived from the context table's stream: what changed, for other systems.

Every event is published if and only if its change was committed, because it is read from DynamoDB Streams,
which carries committed writes only. Its id comes from the stream record, so a record delivered twice yields the
same event id twice and subscribers deduplicate on it. Schemas: docs/events.md (detail `version` "1").
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from agentctx import ids
from agentctx.store.dynamo import from_item
from agentctx.store.keys import (
    BLOCK_SK_PREFIX,
    EVENT_SK_PREFIX,
    INVOCATION_SK_PREFIX,
    JOB_SK_PREFIX,
    SESSION_SK,
    parse_session_pk,
)

SOURCE = "agentctx"
VERSION = "1"
# The logged events that end a turn of /v1/sessions, and the status their domain event reports.
TURN_ENDINGS = {"turn.completed": "completed", "turn.failed": "failed", "turn.cancelled": "cancelled"}


@dataclass
class DomainEvent:
    id: str
    detail_type: str
    tenant_id: str
    occurred_at: str
    data: dict[str, Any]

    def detail(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": VERSION,
            "tenantId": self.tenant_id,
            "occurredAt": self.occurred_at,
            "data": self.data,
        }


def _event_id(stream_event_id: str, detail_type: str) -> str:
    return "evt_" + hashlib.sha256(f"{stream_event_id}|{detail_type}".encode()).hexdigest()[:32]


def events_from_stream_record(record: dict[str, Any]) -> list[DomainEvent]:
    """The events one DynamoDB stream record stands for (most records stand for none)."""
    change = record["dynamodb"]
    keys = from_item(change["Keys"])
    session = parse_session_pk(keys["pk"])
    if session is None:
        return []
    tenant_id, session_hex = session
    session_id = ids.SESSION_PREFIX + session_hex
    new = from_item(change.get("NewImage", {}))
    old = from_item(change.get("OldImage", {}))
    name, sk = record["eventName"], keys["sk"]

    def event(detail_type: str, occurred_at: str, data: dict[str, Any]) -> DomainEvent:
        return DomainEvent(_event_id(record["eventID"], detail_type), detail_type, tenant_id, occurred_at, data)

    if sk == SESSION_SK:
        if name == "INSERT":
            data = {"sessionId": session_id, "name": new["name"], "tags": new.get("tags", [])}
            if new.get("forkedFrom"):
                return [event("Session Forked", new["createdAt"], data | {"forkedFrom": new["forkedFrom"]})]
            return [event("Session Created", new["createdAt"], data)]
        if name == "REMOVE":
            return [event("Session Deleted", old.get("updatedAt", ""), {"sessionId": session_id})]
        return []
    if sk.startswith(BLOCK_SK_PREFIX) and name == "INSERT":
        block_id = ids.block_id(session_hex, sk[len(BLOCK_SK_PREFIX) :])
        data = {"sessionId": session_id, "blockId": block_id, "type": new["type"], "tokenCount": new["tokenCount"]}
        return [event("Blocks Appended", new["createdAt"], data)]
    if sk.startswith(INVOCATION_SK_PREFIX) and name in ("INSERT", "MODIFY"):
        invocation = json.loads(new["record"])
        before = json.loads(old["record"])["status"] if old.get("record") else None
        if invocation["status"] == before:
            return []
        if invocation["status"] == "running":
            data = {"invocationId": invocation["id"], "sessionId": session_id, "agent": invocation["agent"]}
            return [event("Invocation Started", invocation["createdAt"], data)]
        detail_type = "Invocation Completed" if invocation["status"] == "completed" else "Invocation Failed"
        data = {
            "invocationId": invocation["id"],
            "sessionId": session_id,
            "agent": invocation["agent"],
            "status": invocation["status"],
            "usage": invocation["usage"],
            "blocksCreated": invocation["blocksCreated"],
            "error": invocation["error"],
        }
        return [event(detail_type, invocation["completedAt"], data)]
    if sk.startswith(EVENT_SK_PREFIX) and name == "INSERT":
        logged = json.loads(new["record"])
        status = TURN_ENDINGS.get(logged["type"])
        if status is None:
            return []  # the turn's other steps stay in the session's own event log
        data = {
            "sessionId": session_id,
            "turnId": logged["context"].get("turn_id"),
            "inputMessageId": logged["context"].get("input_message_id"),
            "eventId": logged["id"],
            "status": status,
            "usage": logged["data"].get("usage"),
            "blocksCreated": logged["data"].get("blocks_created", []),
            "error": _turn_error(logged["data"]),
        }
        return [event(f"Turn {status.title()}", logged["ts"], data)]
    if sk.startswith(JOB_SK_PREFIX) and name in ("INSERT", "MODIFY"):
        job = json.loads(new["record"])
        before = json.loads(old["record"])["status"] if old.get("record") else None
        if job["status"] in ("completed", "failed") and before != job["status"]:
            fields = ("previousTokens", "newTokens", "blocksCompacted", "summariesCreated", "trigger", "error")
            data = {"compactionId": job["id"], "sessionId": session_id} | {field: job[field] for field in fields}
            return [event(f"Compaction {job['status'].title()}", job["completedAt"], data)]
    return []


def _turn_error(data: dict[str, Any]) -> dict[str, Any] | None:
    """`turn.failed` carries Everruns' `error` (the message) and `error_code`; the bus event keeps {code, message}."""
    if "error_code" not in data:
        return None
    return {"code": data["error_code"], "message": data["error"]}
