"""Running compaction jobs (the compaction queue's consumer): one leg per message. A leg plans the job
(services/compaction_planning.py) and writes its summaries (services/compaction_steps.py) until done or until the
function's deadline is near; then it finishes the job, or commits and queues its own continuation. The session's
lock keeps two compactions of one session apart from the first leg to the last. A job the queue gave up on
(dead-lettered) is marked failed here too.
"""

import time
from collections.abc import Callable
from typing import Any

from agentctx import metering
from agentctx.domain import utc_now
from agentctx.errors import NotFound
from agentctx.observability import logger
from agentctx.providers.base import ProviderError
from agentctx.services.artifact_ledger import ledger_budget
from agentctx.services.compaction_planning import JobPlanner
from agentctx.services.compaction_steps import StepWriter
from agentctx.services.deadline import Deadline, Remaining
from agentctx.store.compaction_jobs import Superseded
from agentctx.store.context_store import ContextStore
from agentctx.store.transactions import BlockMoved

LOCK_SECONDS = 900


class CompactionRunner:
    """Runs one leg of a compaction job per queue message, and fails the jobs the queue gave up on."""

    def __init__(
        self,
        store: ContextStore,
        planner: JobPlanner,
        writer: StepWriter,
        send: Callable[[dict[str, Any]], None],
        deadline_margin_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.planner = planner
        self.writer = writer
        self.send = send
        self.deadline_margin_seconds = deadline_margin_seconds

    def run(
        self, tenant_id: str, session_hex: str, job_key: str, leg: int = 0, remaining: Remaining = None
    ) -> dict[str, Any] | None:
        """Run one leg of the job: plan it (first leg), write summaries until done or until the deadline is near,
        then finish it or queue its next leg. A redelivered message of a finished job, or one its continuation
        superseded, changes nothing. Retryable failures raise (the queue delivers again, and the leg resumes
        from the checkpoint); others mark the job failed."""
        job = self.store.records.get_job(tenant_id, session_hex, job_key)
        if job is None or job["status"] in ("completed", "failed") or job.get("leg", 0) > leg:
            return job
        try:
            self.store.compaction_jobs.claim(tenant_id, session_hex, job["id"], int(time.time()), LOCK_SECONDS)
        except NotFound:  # a Conflict (another compaction runs) propagates: the queue delivers this one later
            return self._fail(tenant_id, session_hex, job, {"code": "session_deleted"})
        job |= {"status": "running", "startedAt": job["startedAt"] or utc_now(), "leg": leg}
        deadline = Deadline(remaining, self.deadline_margin_seconds)
        try:
            self.store.compaction_jobs.save_progress(tenant_id, session_hex, job)
            if deadline.near():
                return self._continue(tenant_id, session_hex, job)
            session = self.store.sessions.get(tenant_id, session_hex)
            if session is None:
                return self._fail(tenant_id, session_hex, job, {"code": "session_deleted"})
            if "plan" not in job and not self.planner.plan(tenant_id, session, job, deadline):
                return self._continue(tenant_id, session_hex, job)
            if not self.writer.write(tenant_id, session, job, deadline):
                return self._continue(tenant_id, session_hex, job)
            return self._complete(tenant_id, session_hex, job)
        except Superseded:
            logger.info("a later leg of this compaction took over", extra={"job": job["id"], "leg": leg})
            return job
        except ProviderError as error:
            if error.retryable:
                raise
            return self._fail(tenant_id, session_hex, job, {"code": error.code, "message": error.message})

    def fail_dead_lettered(self, tenant_id: str, session_hex: str, job_key: str, leg: int = 0) -> dict[str, Any] | None:
        """The queue gave up on the job's message: mark the job failed and let the session compact again (its lock
        and its automatic-compaction mark go), unless the job finished or a later leg carries it on."""
        job = self.store.records.get_job(tenant_id, session_hex, job_key)
        if job is None or job["status"] in ("completed", "failed") or job.get("leg", 0) > leg:
            return job
        job |= {"status": "failed", "completedAt": utc_now()}
        job["error"] = {"code": "dead_lettered", "message": "the compaction failed on every delivery"}
        self.store.compaction_jobs.release_failed(tenant_id, session_hex, job)
        if "plan" not in job and "scan" in job:  # it died planning: its pages go (and the one it may have been storing)
            self.store.compaction_plans.delete_scan_pages(tenant_id, session_hex, job_key, job["scan"]["pages"] + 1)
        return job

    def _continue(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        """Hand the job to a fresh invocation: its progress is committed; the next leg's message goes last, so a
        failure to send it fails this delivery and the queue runs this leg again."""
        self.send({"tenantId": tenant_id, "sessionHex": session_hex, "jobKey": job["orderKey"], "leg": job["leg"] + 1})
        logger.info("compaction continues in a new invocation", extra={"job": job["id"], "steps": job.get("stepsDone")})
        return job

    def _complete(self, tenant_id: str, session_hex: str, job: dict[str, Any]) -> dict[str, Any]:
        artifacts = job.pop("ledger", None)
        try:
            return self._end(tenant_id, session_hex, job, artifacts)
        except BlockMoved:  # a client deleted the ledger meanwhile, or it changed: read it again
            return self._end(tenant_id, session_hex, job, artifacts)

    def _end(
        self, tenant_id: str, session_hex: str, job: dict[str, Any], artifacts: dict[str, Any] | None
    ) -> dict[str, Any]:
        """End the job, writing the session's artifact ledger in the same transaction; its tokens count in
        `newTokens`, and a target met only without them is reported missed."""
        now = utc_now()
        budget = ledger_budget(job["targetTokens"])
        update = self.writer.ledger_update(tenant_id, session_hex, artifacts, budget, now)
        done = job | {
            "status": "completed",
            "completedAt": now,
            "tokenDelta": job["tokenDelta"] + (update.token_delta if update else 0),
            "summariesCreated": max(0, job["summariesCreated"] - job["summariesSkipped"]),
        }
        done["newTokens"] = done["previousTokens"] + done["tokenDelta"]
        if update and done["targetReached"] and done["newTokens"] > done["targetTokens"]:
            done["targetReached"] = False
            done["reason"] = (
                f"the artifact ledger's {update.ledger.token_count} tokens take the session to "
                f"{done['newTokens']} tokens, above the target of {done['targetTokens']}"
            )
        ledger = {"ledger": update.ledger, "previous_ledger": update.previous} if update else {}
        if self.store.compaction_jobs.finish(tenant_id, session_hex, done, count=done["blocksCompacted"] > 0, **ledger):
            metering.add(compactions=1, storedTokens=done["tokenDelta"])
        job |= done
        return job

    def _fail(self, tenant_id: str, session_hex: str, job: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
        job |= {"status": "failed", "completedAt": utc_now(), "error": error}
        self.store.compaction_jobs.finish(tenant_id, session_hex, job, count=False)
        return job
