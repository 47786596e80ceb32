"""`make serve` and the tests run what the template defines: every queue consumer and the stream consumer of
template.yaml with its own handler, on local copies of its tables, queues and bus, named by the variables Lambda
gets."""

import os

from infra import local_server
from infra.template import local_queue_url
from tests.conftest import RESOURCES
from tests.template.conftest import ROOT, functions, sam_template


def event_sources(event_type: str) -> set[tuple[str, str, str, int]]:
    """(function, the queue or table its events come from, its handler file, its batch size) for each event of this
    type."""
    found = set()
    for name, properties in functions(sam_template()).items():
        module = properties["Handler"].rsplit(".", 1)[0]
        for event in properties.get("Events", {}).values():
            if event["Type"] == event_type:
                source = event["Properties"]["Queue" if event_type == "SQS" else "Stream"]["Fn::GetAtt"][0]
                handler = str(ROOT / properties["CodeUri"] / f"{module}.py")
                found.add((name, source, handler, event["Properties"].get("BatchSize", 10)))
    return found


def test_the_local_server_consumes_every_queue_a_function_of_the_template_consumes():
    consumers = {(c.function, c.source, str(c.handler_file), c.batch_size) for c in local_server.QUEUE_CONSUMERS}

    assert consumers == event_sources("SQS")
    assert all(c.handler_name == "lambda_handler" and c.handler_file.exists() for c in local_server.QUEUE_CONSUMERS)


def test_the_local_server_publishes_from_the_stream_the_template_s_events_function_reads():
    consumer = local_server.STREAM_CONSUMER

    found = {(consumer.function, consumer.source, str(consumer.handler_file), consumer.batch_size)}
    assert found == event_sources("DynamoDB")


def test_every_table_queue_and_bus_has_a_local_name_and_each_variable_naming_one_is_set_to_it():
    resources = sam_template()["Resources"]
    kinds = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Events::EventBus"}
    defined = {name for name, resource in resources.items() if resource["Type"] in kinds}
    variables = sam_template()["Globals"]["Function"]["Environment"]["Variables"]
    naming = {variable: value["Ref"] for variable, value in variables.items() if isinstance(value, dict)}

    assert set(local_server.LOCAL_RESOURCES) == set(RESOURCES) == defined
    assert set(local_server.LOCAL_ENVIRONMENT) == set(naming)
    for variable, target in naming.items():
        queue = resources[target]["Type"] == "AWS::SQS::Queue"
        assert os.environ[variable] == (local_queue_url(RESOURCES[target]) if queue else RESOURCES[target]), variable
    assert set(local_server.TABLES) == {n for n in defined if resources[n]["Type"] == "AWS::DynamoDB::Table"}


def test_local_names_follow_the_template_s_own_names_and_fifo_queues_keep_their_suffix():
    assert RESOURCES["TurnQueue"] == "test-turns.fifo"  # the template names it: ${AWS::StackName}-turns.fifo
    assert RESOURCES["EventBus"] == "test-events"
    assert RESOURCES["ContextTable"] == "test-context"
    assert RESOURCES["CompactionDeadLetterQueue"] == "test-compaction-dlq"
