"""Automatic compaction: when a write takes a session past a share of its maxTokens, queue one compaction.

The store detects the crossing inside the write's own transaction (no extra call on ordinary writes) and
records the job with a mark on the session, so a compaction is queued once, not once per write; the mark goes
when that compaction ends.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentctx import ids
from agentctx.domain import utc_now
from agentctx.store.transactions import AutoCompaction


@dataclass
class CompactionParams:
    """targetTokens None: the configured share of the session's maxTokens, settled when the job runs."""

    target_tokens: int | None
    preserve_pinned: bool = True
    preserve_recent: int = 5


class AutoCompactionTrigger:
    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self.send = send

    def plan(self, session_hex: str) -> AutoCompaction:
        return AutoCompaction(compaction_job(session_hex, ids.new_order_key(), None, "auto"))

    def queued(self, tenant_id: str, session_hex: str, auto: AutoCompaction) -> None:
        self.send({"tenantId": tenant_id, "sessionHex": session_hex, "jobKey": auto.job["orderKey"]})


def compaction_job(
    session_hex: str,
    order_key: str,
    target_tokens: int | None,
    trigger: str,
    preserve_pinned: bool = True,
    preserve_recent: int = 5,
) -> dict[str, Any]:
    """A queued compaction job record, as GET .../compactions/{id} shows it."""
    return {
        "id": ids.COMPACTION_PREFIX + order_key,
        "orderKey": order_key,
        "sessionId": ids.SESSION_PREFIX + session_hex,
        "status": "queued",
        "trigger": trigger,
        "targetTokens": target_tokens,
        "preservePinned": preserve_pinned,
        "preserveRecent": preserve_recent,
        "requestedAt": utc_now(),
        "startedAt": None,
        "completedAt": None,
        "previousTokens": None,
        "newTokens": None,
        "blocksCompacted": None,
        "summariesCreated": None,
        "modelCalls": None,
        "targetReached": None,
        "reason": None,
        "error": None,
    }
