"""Lambda entry point for the FIFO turn queue: a message asks to run one session's turns up to a number.

The queue groups messages by session, so a session's jobs arrive one at a time; which turn runs is decided by the
session's committed state, not by the job (services/turns.py). A job that fails is reported, and with it every
later message of its session in the batch (Powertools' FIFO processor; other sessions' jobs go on); those come
back after TURN_RETRY_SECONDS rather than the queue's visibility timeout, so a session is never held up for long.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from agentctx import metering
from agentctx.observability import logger, metrics
from agentctx.settings import get_settings
from agentctx.store.turn_jobs import TurnJob
from agentctx.wiring import turn_queue, turn_service, usage_recorder

processor = SqsFifoPartialProcessor(skip_group_on_error=True)
processor.raise_on_entire_batch_failure = False  # report every failure the same way: retried soon, in order


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    job = TurnJob.from_body(json.loads(record.body))
    logger.thread_safe_append_keys(tenant_id=job.tenant_id, session_hex=job.session_hex, turn_seq=job.turn_seq)
    with metering.metered() as usage:
        outcomes = turn_service().run(job, lambda: lambda_context.get_remaining_time_in_millis() / 1000)
    usage_recorder().write(job.tenant_id, usage)
    for outcome in outcomes:
        metrics.add_metric(name=f"Turns{outcome.capitalize()}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    if failed:
        turn_queue().retry_after(
            [record["receiptHandle"] for record in event["Records"] if record["messageId"] in failed],
            get_settings().turn_retry_seconds,
        )
    return response
