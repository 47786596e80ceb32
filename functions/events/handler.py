"""Lambda entry point for the context table's stream: publishes the domain events of committed changes, and
dispatches the turns of committed input messages to the turn queue and the copies of committed forks to the session
job queue (the outboxes of shared/agentctx/store/turn_jobs.py and session_jobs.py).

A record whose events could not all be published, or whose job could not be queued, is reported as a batch item
failure; the event source mapping retries from it. Subscribers deduplicate on the event id and the turn queue on
the job's deduplication id, both of which the same record always yields; a fork's copy job delivered twice copies
once.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from agentctx.observability import logger, metrics
from agentctx.store.session_jobs import copy_job_from_stream_record
from agentctx.store.stream_events import events_from_stream_record
from agentctx.store.turn_jobs import job_from_stream_record
from agentctx.wiring import dispatch_turn, event_bus, session_job_queue

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    job = job_from_stream_record(record.raw_event)
    if job is not None:
        dispatch_turn(job)
        metrics.add_metric(name="TurnsDispatched", unit="Count", value=1)
    copy = copy_job_from_stream_record(record.raw_event)
    if copy is not None:
        session_job_queue().send(copy)
        metrics.add_metric(name="CopiesDispatched", unit="Count", value=1)
    events = events_from_stream_record(record.raw_event)
    if events:
        event_bus().publish(events)
        metrics.add_metric(name="EventsPublished", unit="Count", value=len(events))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
