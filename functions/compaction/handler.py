"""Lambda entry point for the compaction queue (SQS), reporting partial batch failures.

A message names a job and the leg of it to run; a leg stops before the function's deadline (the context's remaining
time) and queues the next. Running a message twice is harmless (a finished or superseded job is left as it is), and
a failure of one message leaves only that one for the queue to deliver again, then to the dead-letter queue.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentctx import metering
from agentctx.observability import logger, metrics
from agentctx.wiring import compaction_runner, usage_recorder

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    message = json.loads(record.body)
    logger.thread_safe_append_keys(tenant_id=message["tenantId"], compaction_job=message["jobKey"])
    with metering.metered() as usage:
        job = compaction_runner().run(
            message["tenantId"],
            message["sessionHex"],
            message["jobKey"],
            leg=message.get("leg", 0),
            remaining=lambda: lambda_context.get_remaining_time_in_millis() / 1000,
        )
    usage_recorder().write(message["tenantId"], usage)
    if job and job.get("status") == "completed":
        metrics.add_metric(name="CompactionsCompleted", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
