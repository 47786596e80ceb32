"""`make serve` and the tests run what the template defines: every queue consumer and the stream consumer of
template.yaml with its own handler, on local copies of its tables, queues and bus, named by the variables Lambda
gets."""

import os

from infra import local_server
from tests.conftest import RESOURCES
from tests.template.conftest import ROOT, functions, sam_template


def test_the_local_server_consumes_every_queue_a_function_of_the_template_consumes():
    consumers = {(c.function, c.source, c.batch_size) for c in local_server.QUEUE_CONSUMERS}

    assert consumers == {  # the template's SQS events: function, queue, BatchSize (10 where it names none)
        ("TriggerFunction", "TriggerQueue", 1),
        ("CompactionFunction", "CompactionQueue", 1),
        ("CompactionDeadLetterFunction", "CompactionDeadLetterQueue", 10),
        ("SessionJobFunction", "SessionJobQueue", 1),
        ("TurnFunction", "TurnQueue", 1),
    }
    for consumer in local_server.QUEUE_CONSUMERS:
        code = functions(sam_template())[consumer.function]["CodeUri"]
        assert consumer.handler_file == ROOT / code / "handler.py" and consumer.handler_file.exists()
        assert consumer.handler_name == "lambda_handler"


def test_the_local_server_runs_every_consumer_of_the_table_stream_the_template_defines():
    consumers = {(c.function, c.source, c.batch_size, c.handler_file) for c in local_server.STREAM_CONSUMERS}

    assert consumers == {
        ("EventsFunction", "ContextTable", 100, ROOT / "functions/events/handler.py"),
        ("SearchIndexFunction", "ContextTable", 100, ROOT / "functions/search_index/handler.py"),
    }


def test_a_snapshot_keeps_the_stream_records_any_consumer_has_not_handled():
    class Consumer:
        def __init__(self, unhandled: list[dict]) -> None:
            self.left = unhandled

        def unhandled(self) -> list[dict]:
            return self.left

    records = [{"eventID": str(n)} for n in range(3)]

    assert local_server.unhandled_by_any([Consumer(records[2:]), Consumer(records), Consumer([])]) == records
    assert local_server.unhandled_by_any([]) == []


def test_every_table_queue_bus_and_vector_index_has_a_local_name_and_each_variable_naming_one_is_set_to_it():
    resources = sam_template()["Resources"]
    kinds = {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::Events::EventBus",
        "AWS::S3Vectors::VectorBucket",
        "AWS::S3Vectors::Index",
    }
    defined = {name for name, resource in resources.items() if resource["Type"] in kinds}
    variables = sam_template()["Globals"]["Function"]["Environment"]["Variables"]
    indexes = [[name, "IndexArn"] for name in defined if resources[name]["Type"] == "AWS::S3Vectors::Index"]
    naming = {
        variable
        for variable, value in variables.items()
        if isinstance(value, dict) and (value.get("Ref") in defined or value.get("Fn::GetAtt") in indexes)
    }

    assert set(local_server.LOCAL_RESOURCES) == set(RESOURCES) == defined
    assert set(local_server.LOCAL_ENVIRONMENT) == naming
    assert set(local_server.TABLES) == {n for n in defined if resources[n]["Type"] == "AWS::DynamoDB::Table"}
    # as Ref resolves them: a table's or bus's name, a queue's URL
    assert os.environ["CONTEXT_TABLE_NAME"] == "test-context"
    assert os.environ["EVENT_BUS_NAME"] == "test-events"
    assert os.environ["TURN_QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/test-turns.fifo"
    assert local_server.LOCAL_ENVIRONMENT["COMPACTION_QUEUE_URL"].endswith("/123456789012/agentctx-compaction")
    # as GetAtt IndexArn resolves it: the index's ARN in its bucket, named as the template names both
    assert os.environ["VECTOR_INDEX_ARN"] == (
        "arn:aws:s3vectors:us-east-1:123456789012:bucket/test-vectors-123456789012/index/blocks"
    )


def test_local_names_follow_the_template_s_own_names_and_fifo_queues_keep_their_suffix():
    assert RESOURCES["TurnQueue"] == "test-turns.fifo"  # the template names it: ${AWS::StackName}-turns.fifo
    assert RESOURCES["EventBus"] == "test-events"
    assert RESOURCES["ContextTable"] == "test-context"
    assert RESOURCES["CompactionDeadLetterQueue"] == "test-compaction-dlq"
