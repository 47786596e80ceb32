"""Lambda entry point for the session job queue (SQS): purging a deleted session's items in the background.

A purge runs until its items are gone or the invocation nears its end, then queues its own continuation; it
reads what is left each time, so any delivery (a redelivery after a crash, a duplicate) picks up where the items
stand, and the tokens are counted out once (see ContextStore.purge).
"""

import json
import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from agentctx import metering
from agentctx.observability import logger, metrics
from agentctx.wiring import session_service

processor = BatchProcessor(event_type=EventType.SQS)
# Time kept back from the function's timeout: the last batch, the continuation and the usage write.
MARGIN_SECONDS = 10.0


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    message = json.loads(record.body)
    if message.get("kind") != "purge":
        raise ValueError(f"unknown session job {message.get('kind')!r}")
    tenant_id, session_hex = message["tenantId"], message["sessionHex"]
    logger.append_keys(tenant_id=tenant_id, purge=session_hex)
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    deadline = time.monotonic() + max(1.0, remaining - MARGIN_SECONDS)
    service = session_service()
    with metering.metered() as usage:
        done = service.purge(tenant_id, session_hex, deadline)
    metering.write(tenant_id, usage)
    if done:
        metrics.add_metric(name="SessionsPurged", unit="Count", value=1)
    else:
        service.queue_purge(tenant_id, session_hex)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
