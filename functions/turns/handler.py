"""Lambda entry point for the FIFO turn queue: one message is one turn of one session.

The queue groups messages by session, so a session's turns arrive in order and never two at once. A turn that
fails is reported, and with it every later message of the batch (Powertools' FIFO processor), so the queue
delivers them again in the same order; on the queue's last receive the turn ends with `turn.failed` instead.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from agentctx import metering
from agentctx.observability import logger, metrics
from agentctx.services.turns import TurnJob
from agentctx.settings import get_settings
from agentctx.wiring import turn_service

processor = SqsFifoPartialProcessor()


def record_handler(record: SQSRecord) -> None:
    job = TurnJob.from_message(json.loads(record.body))
    attempt = int(record.attributes.approximate_receive_count)
    logger.append_keys(tenant_id=job.tenant_id, turn_id=job.turn_id)
    with metering.metered() as usage:
        outcome = turn_service().run(job, attempt, last_attempt=attempt >= get_settings().turn_max_receives)
    metering.write(job.tenant_id, usage)
    metrics.add_metric(name=f"Turns{outcome.capitalize()}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
