"""Lambda entry point for invocation requests from other AWS services (SQS; EventBridge routes events here too).

A message is either the request itself or an EventBridge event whose `detail` is the request; the event's id
(or the message id) keys the once-only processing. Passing failures are reported per message for a retry.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from agentctx import metering
from agentctx.observability import logger, metrics
from agentctx.wiring import trigger_service, usage_recorder

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    routed = isinstance(body, dict) and "detail-type" in body and isinstance(body.get("detail"), dict)
    request_id, request = (body["id"], body["detail"]) if routed else (record.message_id, body)
    request = request if isinstance(request, dict) else {}
    with metering.metered() as usage:
        result = trigger_service().handle(request_id, request)
    if isinstance(request.get("tenantId"), str) and request["tenantId"].startswith("org_"):
        usage_recorder().write(request["tenantId"], usage)
    metrics.add_metric(name=f"TriggeredInvocations{result['status'].title()}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
