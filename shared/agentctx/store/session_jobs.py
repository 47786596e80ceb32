"""What the session job queue carries (a fork's copy, a deleted session's purge), and where a copy job comes from.

A copy job is sent only for a fork that committed with blocks left to copy: by the request that committed it,
right after the commit, and again by the context table's stream from the committed session item (the outbox), so
a crash between the commit and the send still copies the fork. Two deliveries of one copy never copy a block twice,
and the one that finds the other ahead of it stops (store/fork_copy.py). Kept free of heavy imports: the stream
function loads it.
"""

from typing import Any

from agentctx.store.dynamo import from_item
from agentctx.store.keys import SESSION_SK, parse_session_pk


def copy_job(tenant_id: str, fork_hex: str, source_hex: str) -> dict[str, Any]:
    return {"kind": "copy", "tenantId": tenant_id, "sessionHex": fork_hex, "sourceHex": source_hex}


def purge_job(tenant_id: str, session_hex: str, waits: int = 0) -> dict[str, Any]:
    """`waits`: how many times this purge has found a fork still copying from the session."""
    return {"kind": "purge", "tenantId": tenant_id, "sessionHex": session_hex, "waits": waits}


def copy_job_from_stream_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """The copy job a stream record dispatches: the INSERT of a fork's session item with its copy state, else none."""
    if record.get("eventName") != "INSERT":
        return None
    keys = from_item(record["dynamodb"]["Keys"])
    session = parse_session_pk(keys["pk"])
    if keys["sk"] != SESSION_SK or session is None:
        return None
    source_hex = record["dynamodb"].get("NewImage", {}).get("copySource", {}).get("S")
    return copy_job(*session, source_hex) if source_hex else None
