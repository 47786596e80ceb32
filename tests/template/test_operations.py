"""The stack as operated: one stage, regional streaming, batches that fit, secrets out of the environment, a
guarded trigger rule, alarms on everything that can fail quietly, and IAM narrowed to what exists."""

import json
import re
from typing import Any

from tests.template.conftest import functions

SECRET_VARIABLES = {"CURSOR_SECRET", "ADMIN_KEY_SHA256", "OPENAI_API_KEY"}


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def refs(value: Any) -> set[str]:
    """Logical ids a value refers to (Ref, GetAtt, ${...} in Sub)."""
    text = json.dumps(value)
    patterns = (r'"Ref": "(\w+)"', r'"Fn::GetAtt": \["(\w+)"', r"\$\{(\w+)[.}]")
    return {name for pattern in patterns for name in re.findall(pattern, text)}


def test_one_stage_on_a_regional_api(translated):
    stages = of_type(translated, "AWS::ApiGateway::Stage")
    assert [s["Properties"]["StageName"] for s in stages.values()] == [{"Ref": "StageName"}]
    (api,) = of_type(translated, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]


def test_streams_may_outlast_the_29_second_limit_up_to_the_function_timeout(template, translated):
    (api,) = of_type(translated, "AWS::ApiGateway::RestApi").values()
    streaming = [
        operation["x-amazon-apigateway-integration"]
        for methods in api["Properties"]["Body"]["paths"].values()
        for operation in methods.values()
        if operation["x-amazon-apigateway-integration"].get("responseTransferMode") == "STREAM"
    ]
    timeout = functions(template)["InvokeFunction"]["Timeout"]
    assert streaming and all(timeout * 1000 <= i["timeoutInMillis"] <= 900_000 for i in streaming)


def test_queue_batches_fit_their_function_and_concurrency_is_bounded(template):
    default_timeout = template["Globals"]["Function"]["Timeout"]
    for name, properties in functions(template).items():
        for event in properties.get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            source = event["Properties"]
            queue = template["Resources"][source["Queue"]["Fn::GetAtt"][0]]["Properties"]
            timeout = properties.get("Timeout", default_timeout)
            assert source["BatchSize"] == 1 or timeout <= 60, f"{name}: one slow message times the batch out"
            assert source["ScalingConfig"]["MaximumConcurrency"] >= 2, name
            assert queue["VisibilityTimeout"] >= 6 * timeout, f"{name}: AWS advises 6x the function timeout"


def test_secrets_are_parameter_names_read_only_by_the_functions_that_use_them(template):
    assert not SECRET_VARIABLES & set(template["Globals"]["Function"]["Environment"]["Variables"])
    every_named = set()
    for name, properties in functions(template).items():
        variables = properties.get("Environment", {}).get("Variables", {})
        assert not SECRET_VARIABLES & set(variables), name
        named = {refs(value).pop() for key, value in variables.items() if key.endswith("_PARAMETER")}
        readable = {
            parameter
            for policy in properties.get("Policies", [])
            for statement in policy.get("Statement", [])
            if isinstance(policy, dict)
            if "ssm:GetParameters" in statement["Action"]
            for parameter in refs(statement["Resource"])
        }
        assert readable == named, name
        every_named |= named
    assert every_named == {"CursorSecretParameter", "AdminKeySha256Parameter", "OpenAIApiKeyParameter"}


def test_only_the_configured_source_in_this_account_can_request_invocations(template):
    rule = template["Resources"]["TriggerRule"]["Properties"]
    assert rule["EventPattern"]["source"] == [{"Ref": "TriggerEventSource"}]
    assert rule["EventPattern"]["account"] == [{"Ref": "AWS::AccountId"}]
    (target,) = rule["Targets"]
    assert target["DeadLetterConfig"]["Arn"] and target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_everything_that_can_fail_quietly_alarms(template):
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()
    watched = {(a["Properties"]["MetricName"], ref) for a in alarms for ref in refs(a["Properties"]["Dimensions"])}
    for name in functions(template):
        assert {("Errors", name), ("Throttles", name)} <= watched, name
    queues = template["Resources"]
    dead_letter = {
        ref for q in of_type(template, "AWS::SQS::Queue").values() for ref in refs(q["Properties"].get("RedrivePolicy"))
    } | {ref for rule in of_type(template, "AWS::Events::Rule").values() for ref in refs(rule["Properties"]["Targets"])}
    dead_letter = {ref for ref in dead_letter if "DeadLetter" in ref and ref in queues}
    assert dead_letter and all(("ApproximateNumberOfMessagesVisible", q) in watched for q in dead_letter)
    streams = {
        n for n, p in functions(template).items() for e in p.get("Events", {}).values() if e["Type"] == "DynamoDB"
    }
    assert all(("IteratorAge", n) in watched for n in streams)
    assert any(a["Properties"]["MetricName"] == "5XXError" for a in alarms)
    assert all(a["Properties"]["AlarmActions"] for a in alarms)


def test_functions_are_traced_and_their_logs_expire(template):
    function_globals = template["Globals"]["Function"]
    assert function_globals["Tracing"] == "Active"
    group = template["Resources"][function_globals["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Properties"]["RetentionInDays"]


def test_iam_names_the_one_index(template):
    assert "index/*" not in json.dumps(template["Resources"])


def test_a_gradual_rollout_rolls_back_when_the_function_s_alarms_fire(template, translated):
    """Each function's new version takes traffic gradually; CodeDeploy rolls it back when an alarm on that function
    fires, or for a function behind the API (the authorizer too) the API's 5XX alarm."""
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert template["Globals"]["Function"]["DeploymentPreference"]["Type"].startswith(("Linear", "Canary"))
    for name, properties in functions(template).items():
        listed = refs(properties["DeploymentPreference"]["Alarms"])
        assert listed and listed <= set(alarms), name
        watched = {ref for alarm in listed for ref in refs(alarms[alarm]["Properties"]["Dimensions"])}
        assert name in watched or "ApiServerErrorsAlarm" in listed, name
    groups = of_type(translated, "AWS::CodeDeploy::DeploymentGroup").values()
    assert len(groups) == len(functions(template))
    assert all(
        g["Properties"]["AlarmConfiguration"]["Enabled"] and g["Properties"]["AlarmConfiguration"]["Alarms"]
        for g in groups
    )
