"""Lambda entry point for the compaction dead-letter queue: a job whose message the queue gave up on is marked
failed, and the session's lock and automatic-compaction mark are dropped, so the next write past the threshold
queues a new compaction. A message that names no job (it could not even be read) is logged and dropped."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from agentctx.observability import logger, metrics
from agentctx.wiring import compaction_runner

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    try:
        message = json.loads(record.body)
        tenant_id, session_hex, job_key = message["tenantId"], message["sessionHex"], message["jobKey"]
    except (ValueError, KeyError, TypeError):
        logger.warning("dead-lettered message names no compaction job", extra={"message_id": record.message_id})
        return
    job = compaction_runner().fail_dead_lettered(tenant_id, session_hex, job_key, leg=message.get("leg", 0))
    if job and job.get("error", {}) and job["error"].get("code") == "dead_lettered":
        logger.warning("compaction failed after every delivery", extra={"tenant_id": tenant_id, "job": job["id"]})
        metrics.add_metric(name="CompactionsDeadLettered", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
