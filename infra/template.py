"""Reads template.yaml, the one source of truth for resources, and creates its tables and queues (locally, in moto)."""

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"
_TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "LocalSecondaryIndexes",
    "GlobalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


_NAMED_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::S3Vectors::VectorBucket",
    "AWS::S3Vectors::Index",
)
_NAME_PROPERTIES = ("TableName", "QueueName", "Name", "VectorBucketName", "IndexName")
# moto's default account; a local region, as `make serve` and the tests set it
LOCAL_ACCOUNT, LOCAL_REGION = "123456789012", "us-east-1"


class _CloudFormationLoader(yaml.SafeLoader):
    """Keeps intrinsic functions (!Ref, !GetAtt, !Sub ...) as {"Fn": value} instead of failing on the tags."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as data, the caller's own copy: parsed once per version of the file (a parse takes ~0.4 s, and
    every embedded AWS the tests start reads it)."""
    stat = path.stat()
    return copy.deepcopy(_parsed(path, stat.st_mtime_ns, stat.st_size))


@cache
def _parsed(path: Path, modified_ns: int, size: int) -> dict[str, Any]:
    return parse_template(path.read_text())


def parse_template(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


def table_definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """CreateTable arguments for each AWS::DynamoDB::Table, by logical id."""
    return {
        logical_id: {key: resource["Properties"][key] for key in _TABLE_PROPERTIES if key in resource["Properties"]}
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def create_tables(client: Any, names: dict[str, str], template: dict[str, Any] | None = None) -> None:
    """Create the template's tables under the given names (logical id -> table name)."""
    for logical_id, definition in table_definitions(template or load_template()).items():
        if "StreamSpecification" in definition:  # CloudFormation implies StreamEnabled; the API wants it said
            definition["StreamSpecification"] = {"StreamEnabled": True, **definition["StreamSpecification"]}
        client.create_table(TableName=names[logical_id], **definition)


def create_queues(client: Any, names: dict[str, str], template: dict[str, Any] | None = None) -> dict[str, str]:
    """Create the template's queues under the given names, dead-letter queues first; logical id -> queue URL."""
    queues = {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in (template or load_template())["Resources"].items()
        if resource["Type"] == "AWS::SQS::Queue"
    }
    urls: dict[str, str] = {}
    for logical_id in sorted(queues, key=lambda name: "RedrivePolicy" in queues[name]):
        properties = queues[logical_id]
        attributes = {
            key: str(properties[key]) for key in ("VisibilityTimeout", "MessageRetentionPeriod") if key in properties
        }
        if properties.get("FifoQueue"):
            attributes["FifoQueue"] = "true"
        if "RedrivePolicy" in properties:
            policy = properties["RedrivePolicy"]
            target = policy["deadLetterTargetArn"]["GetAtt"].split(".")[0]
            arn = client.get_queue_attributes(QueueUrl=urls[target], AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": policy["maxReceiveCount"]}
            )
        urls[logical_id] = client.create_queue(QueueName=names[logical_id], Attributes=attributes)["QueueUrl"]
    return urls


def create_event_buses(client: Any, names: dict[str, str], template: dict[str, Any] | None = None) -> None:
    """Create the template's EventBridge buses under the given names."""
    for logical_id, resource in (template or load_template())["Resources"].items():
        if resource["Type"] == "AWS::Events::EventBus":
            client.create_event_bus(Name=names[logical_id])


def create_vector_indexes(
    client: Any, names: dict[str, str], dimension: int, template: dict[str, Any] | None = None
) -> None:
    """Create the template's vector buckets, then their indexes, under the given names; every index of
    `dimension` (the template's comes from a parameter)."""
    template = template or load_template()
    for logical_id in logical_ids("AWS::S3Vectors::VectorBucket", template):
        client.create_vector_bucket(vectorBucketName=names[logical_id])
    for logical_id in logical_ids("AWS::S3Vectors::Index", template):
        properties = template["Resources"][logical_id]["Properties"]
        client.create_index(
            vectorBucketName=names[_index_bucket(properties)],
            indexName=names[logical_id],
            dataType=properties["DataType"],
            dimension=dimension,
            distanceMetric=properties["DistanceMetric"],
        )


def _index_bucket(properties: dict[str, Any]) -> str:
    """The logical id of the vector bucket an index's VectorBucketArn (a GetAtt) names."""
    return str(properties["VectorBucketArn"]["GetAtt"]).split(".")[0]


def local_vector_index_arn(logical_id: str, names: dict[str, str], template: dict[str, Any] | None = None) -> str:
    """An index's ARN in the local account, as S3 Vectors forms it from its bucket's name and its own."""
    properties = (template or load_template())["Resources"][logical_id]["Properties"]
    bucket = names[_index_bucket(properties)]
    return f"arn:aws:s3vectors:{LOCAL_REGION}:{LOCAL_ACCOUNT}:bucket/{bucket}/index/{names[logical_id]}"


def logical_ids(kind: str, template: dict[str, Any] | None = None) -> list[str]:
    """The logical ids of the template's resources of this type, in template order."""
    resources = (template or load_template())["Resources"]
    return [logical_id for logical_id, resource in resources.items() if resource["Type"] == kind]


def local_names(stack: str, template: dict[str, Any] | None = None) -> dict[str, str]:
    """A name for each table, queue, bus, vector bucket and vector index, as a stack named `stack` gets them: the
    template's own name (its ${AWS::StackName} and ${AWS::AccountId} replaced), or else the logical id without its
    type word, DeadLetter shortened to dlq, in kebab case (ContextTable: stack-context, CompactionDeadLetterQueue:
    stack-compaction-dlq), .fifo kept on a FIFO queue."""
    template = template or load_template()
    resources = template["Resources"]
    names = {}
    for logical_id in (id_ for kind in _NAMED_TYPES for id_ in logical_ids(kind, template)):
        properties = resources[logical_id].get("Properties", {})
        given = next((properties[key] for key in _NAME_PROPERTIES if key in properties), None)
        if given is not None:
            name = given["Sub"] if isinstance(given, dict) else given
            name = name.replace("${AWS::StackName}", stack).replace("${AWS::AccountId}", LOCAL_ACCOUNT)
            assert "${" not in name, f"{logical_id}: only the stack name and account can be resolved locally"
        else:
            words = re.sub(r"(Table|Queue|EventBus)$", "", logical_id).replace("DeadLetter", "Dlq")
            name = f"{stack}-" + re.sub(r"(?<!^)(?=[A-Z])", "-", words).lower()
            name += ".fifo" if properties.get("FifoQueue") else ""
        names[logical_id] = name
    return names


def local_queue_url(name: str) -> str:
    """A queue's URL in the local account (moto's default), which SQS derives from the region, account and name."""
    return f"https://sqs.{LOCAL_REGION}.amazonaws.com/{LOCAL_ACCOUNT}/{name}"


def resource_environment(names: dict[str, str], template: dict[str, Any] | None = None) -> dict[str, str]:
    """The Globals environment variables that `!Ref` a table, bus or queue, or `!GetAtt` a vector index's IndexArn,
    resolved for these names as CloudFormation resolves them: a table's or bus's name, a queue's URL, an index's ARN."""
    template = template or load_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    environment = {}
    for variable, value in variables.items():
        target = value.get("Ref") if isinstance(value, dict) else None
        attribute = value.get("GetAtt") if isinstance(value, dict) else None
        if target in names:
            queue = template["Resources"][target]["Type"] == "AWS::SQS::Queue"
            environment[variable] = local_queue_url(names[target]) if queue else names[target]
        elif isinstance(attribute, str) and attribute.endswith(".IndexArn") and attribute[: -len(".IndexArn")] in names:
            environment[variable] = local_vector_index_arn(attribute[: -len(".IndexArn")], names, template)
    return environment


@dataclass(frozen=True)
class Consumer:
    """A function fed by an event source mapping: its queue's (or stream's table's) logical id, and its handler."""

    function: str
    source: str
    handler_file: Path
    handler_name: str
    batch_size: int


def consumers(event_type: str, template: dict[str, Any] | None = None) -> list[Consumer]:
    """The functions with an event of this type ("SQS" or "DynamoDB"), each with the queue or table it reads."""
    template = template or load_template()
    found = []
    for function in logical_ids("AWS::Serverless::Function", template):
        properties = template["Resources"][function]["Properties"]
        module, handler_name = properties["Handler"].rsplit(".", 1)
        for event in properties.get("Events", {}).values():
            if event["Type"] == event_type:
                source = event["Properties"]["Queue" if event_type == "SQS" else "Stream"]["GetAtt"]
                handler_file = TEMPLATE_PATH.parent / properties["CodeUri"] / f"{module.replace('.', '/')}.py"
                batch_size = event["Properties"].get("BatchSize", 10)  # the event source mapping's default
                found.append(Consumer(function, source.split(".")[0], handler_file, handler_name, batch_size))
    return found
