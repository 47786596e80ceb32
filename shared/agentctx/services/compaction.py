"""Compaction requests and job records (the sessions function): a compaction is queued as a job, which the
compaction function runs (services/compaction_runner.py); a request may wait for it, and jobs are read back.

Compaction replaces a session's oldest blocks by summaries until its active tokens meet a target, losslessly: the
covered blocks leave the active context but stay stored (services/compaction_plan.py, docs/compaction.md).
"""

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agentctx import ids
from agentctx.domain import Listed, utc_now
from agentctx.errors import NotFound
from agentctx.services.auto_compaction import CompactionParams, compaction_job
from agentctx.services.sessions import SessionService
from agentctx.store.context_store import ContextStore
from agentctx.store.records import RecordKind


class CompactionService:
    def __init__(
        self,
        store: ContextStore,
        sessions: SessionService,
        send: Callable[[dict[str, Any]], None],
        default_target_share: float,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.send = send
        self.default_target_share = default_target_share

    def request(self, tenant_id: str, session_id: str, params: CompactionParams) -> dict:
        session = self.sessions.load(tenant_id, session_id)
        if params.target_tokens is None:
            params = replace(params, target_tokens=int(session.max_tokens * self.default_target_share))
        job = compaction_job(
            session.hex,
            ids.new_order_key(),
            params.target_tokens,
            "manual",
            params.preserve_pinned,
            params.preserve_recent,
        )
        self.store.compaction_jobs.queue(tenant_id, session.hex, job)
        self._send(tenant_id, session.hex, job)
        return job

    def _send(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> None:
        try:
            self.send({"tenantId": tenant_id, "sessionHex": session_hex, "jobKey": job["orderKey"]})
        except Exception:
            self.store.compaction_jobs.put(
                tenant_id,
                session_hex,
                job | {"status": "failed", "completedAt": utc_now()} | {"error": {"code": "queue_unavailable"}},
            )
            raise

    def get(self, tenant_id: str, session_id: str, job_id: str) -> dict[str, Any]:
        session = self.sessions.load(tenant_id, session_id)
        job_key = ids.parse_order_id(job_id, ids.COMPACTION_PREFIX)
        job = self.store.records.get_job(tenant_id, session.hex, job_key) if job_key else None
        if job is None:
            raise NotFound(f"compaction {job_id} not found")
        return job

    def list_page(self, tenant_id: str, session_id: str, limit: int, cursor: str | None) -> Listed[dict[str, Any]]:
        return self.sessions.list_records(tenant_id, session_id, RecordKind.COMPACTION_JOB, limit, cursor)

    def wait(self, tenant_id: str, session_hex: str, job_key: str, seconds: float) -> dict[str, Any]:
        """The job once it is completed or failed, or as it stands when the time is up."""
        deadline = time.monotonic() + seconds
        delay = 0.05
        while True:
            job = self.store.records.get_job(tenant_id, session_hex, job_key)
            if job is None or job["status"] in ("completed", "failed") or time.monotonic() >= deadline:
                return job or {}
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.5)
