"""Lambda entry point for the context table's stream: keeps the search indexes in step with the blocks
(shared/agentctx/services/search_indexing.py).

A record that could not be indexed is reported as a batch item failure; the event source mapping retries from it,
then sends it to SearchIndexDeadLetterQueue. Indexing a record again leaves the same index.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from agentctx.observability import logger, metrics
from agentctx.wiring import search_indexer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    done = search_indexer().handle(record.raw_event)
    if done == "indexed":
        metrics.add_metric(name="BlocksIndexed", unit="Count", value=1)
    elif done == "removed":
        metrics.add_metric(name="BlocksUnindexed", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
