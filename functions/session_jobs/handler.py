"""Lambda entry point for the session job queue (SQS): purging a deleted session's items, and copying a fork's
blocks from its source, in the background.

Each job runs until done or the invocation nears its end, then queues its own continuation. Both resume from
what is stored (a purge reads what is left; a copy moves on from the fork's `copiedThrough` in the same
transaction as each batch), so any delivery (a redelivery after a crash, a duplicate) picks up where things
stand, and tokens are counted once (see store/purge.py and store/fork_copy.py). Every job is bounded: a
continuation is queued only after a run that removed or copied something, and a purge waiting for a fork's copy
looks again at most PURGE_WAITS times, further apart each time; past that the message fails, and after the queue's
receive count it goes to the dead-letter queue, whose alarm calls an operator (docs/data-model.md).
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from agentctx import metering
from agentctx.observability import logger, metrics
from agentctx.settings import get_settings
from agentctx.store.purge import PurgeOutcome
from agentctx.wiring import session_service, usage_recorder

processor = BatchProcessor(event_type=EventType.SQS)
# Time kept back from the function's timeout: the last batch, the continuation and the usage write.
MARGIN_SECONDS = 10.0
# A purge waiting for a fork's copy looks again after SESSION_JOB_RETRY_SECONDS (5 s), doubled each time up to SQS's
# longest delay (900 s), this many times: about four hours, well past the longest copy (a copy job stopped by a
# crash comes back after the queue's 30-minute visibility timeout, up to 3 times).
PURGE_WAITS = 24
MAX_DELAY_SECONDS = 900


class JobStalled(Exception):
    """A job that can make no progress: its message is retried, then dead-lettered."""


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    message = json.loads(record.body)
    tenant_id, session_hex, kind = message["tenantId"], message["sessionHex"], message.get("kind")
    logger.thread_safe_append_keys(tenant_id=tenant_id, session_job=kind, session=session_hex)
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    seconds = max(1.0, remaining - MARGIN_SECONDS)
    service, retry = session_service(), get_settings().session_job_retry_seconds
    with metering.metered() as usage:
        if kind == "purge":
            outcome = service.purge(tenant_id, session_hex, seconds)
        elif kind == "copy":
            copy_done = service.copy(tenant_id, session_hex, seconds)
        else:
            raise ValueError(f"unknown session job {kind!r}")
    usage_recorder().write(tenant_id, usage)
    if kind == "copy" and not copy_done:
        service.queue_copy(tenant_id, session_hex, message["sourceHex"])
    elif kind == "purge" and outcome is PurgeOutcome.MORE:
        service.queue_purge(tenant_id, session_hex)
    elif kind == "purge" and outcome is PurgeOutcome.WAITING:
        waits = int(message.get("waits", 0))
        if waits >= PURGE_WAITS:
            raise JobStalled(f"the purge of session {session_hex} waited {waits} times for a fork's copy")
        service.queue_purge(tenant_id, session_hex, min(retry * 2**waits, MAX_DELAY_SECONDS), waits + 1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
