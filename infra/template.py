"""Reads template.yaml, the one source of truth for resources, and creates its tables and queues (locally, in moto)."""

import copy
import json
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
    with open(path) as handle:
        return yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


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
