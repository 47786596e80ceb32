"""Lambda entry point for the session job queue (SQS): purging a deleted session's items, and copying a fork's
blocks from its source, in the background.

Each job runs until done or the invocation nears its end, then queues its own continuation. Both resume from
what is stored (a purge reads what is left; a copy moves on from the fork's `copiedThrough` in the same
transaction as each batch), so any delivery (a redelivery after a crash, a duplicate) picks up where things
stand, and tokens are counted once (see store/purge.py and store/fork_copy.py).
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from agentctx import metering
from agentctx.observability import logger, metrics
from agentctx.settings import get_settings
from agentctx.wiring import session_service, usage_recorder

processor = BatchProcessor(event_type=EventType.SQS)
# Time kept back from the function's timeout: the last batch, the continuation and the usage write.
MARGIN_SECONDS = 10.0
# A copy job that finds no fork looks again this many times, SESSION_JOB_RETRY_SECONDS apart (5 s): its fork
# request (under API Gateway's 29 s) has committed by then, or never will.
FORK_WAIT_ATTEMPTS = 12


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    message = json.loads(record.body)
    tenant_id, session_hex = message["tenantId"], message["sessionHex"]
    logger.thread_safe_append_keys(tenant_id=tenant_id, session_job=message.get("kind"), session=session_hex)
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    seconds = max(1.0, remaining - MARGIN_SECONDS)
    service, retry = session_service(), get_settings().session_job_retry_seconds
    with metering.metered() as usage:
        if message.get("kind") == "purge":
            done = service.purge(tenant_id, session_hex, seconds)
        elif message.get("kind") == "copy":
            copied = service.copy(tenant_id, session_hex, message["sourceHex"], seconds)
            done = copied is not False
            if copied is None and message["attempt"] < FORK_WAIT_ATTEMPTS:  # its request has not committed yet
                service.queue_copy(tenant_id, session_hex, message["sourceHex"], message["attempt"] + 1, retry)
        else:
            raise ValueError(f"unknown session job {message.get('kind')!r}")
    usage_recorder().write(tenant_id, usage)
    if not done and message["kind"] == "purge":
        service.queue_purge(tenant_id, session_hex, retry)  # more to remove, or waiting for a fork's copy
    elif not done:
        service.queue_copy(tenant_id, session_hex, message["sourceHex"], delay=retry)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
