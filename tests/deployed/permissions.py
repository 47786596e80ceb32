"""A function's IAM policy from the translated template, resolved for the local resources, and the check of one
call against it (Allow statements, IAM's * and ? wildcards; the templates grant no Deny)."""

import re
from fnmatch import fnmatchcase
from typing import Any

from tests.deployed.conftest import ACCOUNT, REGION, AwsCall, LocalAws


def _resolve(value: Any, aws: LocalAws, variables: dict[str, Any] | None = None) -> str:
    if isinstance(value, str):
        return value
    (function, argument), *_ = value.items()
    if function == "Ref":
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}.get(argument) or aws.refs[
            argument
        ]
    if function == "Fn::GetAtt":
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return aws.arns[logical_id] if attribute.endswith("Arn") else aws.arns[logical_id].rsplit(":", 1)[-1]
    if function == "Fn::Join":
        return argument[0].join(_resolve(part, aws) for part in argument[1])
    if function == "Fn::Sub":
        text, names = (argument, {}) if isinstance(argument, str) else argument

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in names:
                return _resolve(names[name], aws)
            if "." in name and not name.startswith("AWS::"):
                return _resolve({"Fn::GetAtt": name}, aws)
            return _resolve({"Ref": name}, aws)

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    raise AssertionError(f"cannot resolve {value!r}")


def policy_statements(translated: dict[str, Any], function: str, aws: LocalAws) -> list[dict[str, list[str]]]:
    """The function role's inline Allow statements, with actions and resolved resources as lists."""
    role_id = translated["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in translated["Resources"][role_id]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            statements.append({"actions": actions, "resources": [_resolve(r, aws) for r in resources]})
    return statements


def allowed(call: AwsCall, statements: list[dict[str, list[str]]]) -> bool:
    return any(
        any(fnmatchcase(call.action.lower(), action.lower()) for action in statement["actions"])
        and any(fnmatchcase(call.resource, resource) for resource in statement["resources"])
        for statement in statements
    )
