"""template.yaml is deployable without an AWS account: SAM translates it, cfn-lint passes the result, and every
route and handler it names exists in the code."""

import json
import re
from fnmatch import fnmatchcase

import pytest

from agentctx.api.full import full_app
from agentctx.api.registry import FUNCTIONS
from agentctx.settings import Settings
from tests.template.conftest import LINT_GROUP, asgi_routes, functions, is_serverless_rule


@LINT_GROUP
def test_template_translates_and_lints_clean(lint_matches):
    assert [str(match) for match in lint_matches if not is_serverless_rule(match)] == []


def test_api_is_a_rest_api_with_a_lambda_request_authorizer(translated):
    resources = translated["Resources"]
    apis = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert len(apis) == 1
    schemes = apis[0]["Properties"]["Body"]["components"]["securitySchemes"]
    assert schemes["ApiKeyAuthorizer"]["x-amazon-apigateway-authtype"] == "custom"
    assert schemes["ApiKeyAuthorizer"]["x-amazon-apigateway-authorizer"]["type"] == "request"


def test_tables_are_on_demand_with_point_in_time_recovery(template):
    tables = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) == 4  # context, tenants, idempotency, search
    for table in tables:
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def template_routes(template) -> dict[tuple[str, str], str]:
    routes = {}
    for name, properties in functions(template).items():
        for event in properties.get("Events", {}).values():
            if event["Type"] == "Api":
                routes[(event["Properties"]["Method"].upper(), event["Properties"]["Path"])] = name
    return routes


def app_routes() -> set[tuple[str, str]]:
    app = full_app()
    return {
        (method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations
    } | asgi_routes(app)


def test_every_app_route_and_each_path_s_preflight_is_in_the_template_and_back(template):
    preflights = {("OPTIONS", path) for _, path in app_routes()}
    assert app_routes() | preflights == set(template_routes(template))


def test_allowed_origins_are_a_parameter_none_by_default_that_every_http_function_reads(template):
    parameter = template["Parameters"]["CorsAllowedOrigins"]
    reading = {
        name
        for name, properties in functions(template).items()
        if properties.get("Environment", {}).get("Variables", {}).get("CORS_ALLOWED_ORIGINS")
        == {"Ref": "CorsAllowedOrigins"}
    }

    assert parameter["Type"] == "String" and parameter["Default"] == ""
    assert reading == {function.logical_id for function in FUNCTIONS}


@pytest.mark.parametrize(
    "value",
    ["", "*", "https://a.example.com", "https://a.example.com,http://localhost:5173", "https://a.example.com/", "a.b"],
)
def test_a_deploy_refuses_the_origins_the_functions_would_refuse(template, value):
    """CloudFormation checks the parameter before anything is deployed; the functions would fail on every request."""
    accepted_by_the_template = re.fullmatch(template["Parameters"]["CorsAllowedOrigins"]["AllowedPattern"], value)
    try:
        Settings.from_environment({"CORS_ALLOWED_ORIGINS": value})
        accepted_by_the_settings = True
    except ValueError:
        accepted_by_the_settings = False

    assert bool(accepted_by_the_template) == accepted_by_the_settings


def test_read_only_function_has_read_only_policy(template):
    statements = functions(template)["AuthorizerFunction"]["Policies"][0]["Statement"]
    actions = {action for statement in statements for action in statement["Action"]}

    assert actions == {"dynamodb:GetItem"}


def test_no_function_may_scan(template):
    text = json.dumps(template)

    assert not re.search(r"dynamodb:Scan", text)


def test_invoke_routes_stream_through_api_gateway_only(translated):
    resources = translated["Resources"]
    body = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi")["Properties"]["Body"]
    for path in ("/v1/aip/invoke", "/.well-known/aip/invoke"):
        integration = body["paths"][path]["post"]["x-amazon-apigateway-integration"]
        assert integration["responseTransferMode"] == "STREAM"
        assert integration["uri"]["Fn::Sub"].endswith("/response-streaming-invocations")
    assert not [r for r in resources.values() if r["Type"] == "AWS::Lambda::Url"], "a Function URL bypasses the API"
    environment = resources["InvokeFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert environment["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"


def test_streaming_routes_still_sit_behind_the_authorizer(translated):
    body = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    operation = body["Properties"]["Body"]["paths"]["/v1/aip/invoke"]["post"]

    assert operation["security"] == [{"ApiKeyAuthorizer": []}]


def test_compaction_queue_outlasts_its_function_and_has_a_dead_letter_queue(template, translated):
    resources = template["Resources"]
    queue = resources["CompactionQueue"]["Properties"]
    function = resources["CompactionFunction"]["Properties"]
    assert queue["VisibilityTimeout"] > function["Timeout"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    mapping = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_events_come_from_the_table_stream_with_retries_and_a_dead_letter_queue(template):
    table = template["Resources"]["ContextTable"]["Properties"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    source = template["Resources"]["EventsFunction"]["Properties"]["Events"]["ContextChanges"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BisectBatchOnFunctionError"] is True and source["MaximumRetryAttempts"] > 0
    assert source["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_functions_that_call_models_may_call_the_default_profile_wherever_it_routes(template):
    """The default model is a cross-Region inference profile: a call names the profile in the stack's Region and
    runs on the model in whichever Region of the profile Bedrock picks, and IAM checks both."""
    profile = template["Parameters"]["DefaultModelId"]["Default"]
    model = profile.split(".", 1)[1]  # us.anthropic.claude-... runs anthropic.claude-...
    calls = [f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{profile}"] + [
        f"arn:aws:bedrock:{region}::foundation-model/{model}" for region in ("us-east-1", "us-east-2", "us-west-2")
    ]
    pseudo = {"${AWS::Partition}": "aws", "${AWS::Region}": "us-east-1", "${AWS::AccountId}": "123456789012"}

    callers = {}
    for name, properties in functions(template).items():
        statements = [s for p in properties["Policies"] if "Statement" in p for s in p["Statement"]]
        resources = [
            re.sub(r"\$\{AWS::\w+\}", lambda m: pseudo[m.group(0)], resource["Fn::Sub"])
            for statement in statements
            if "bedrock:InvokeModelWithResponseStream" in statement["Action"]
            for resource in statement["Resource"]
        ]
        if resources:  # models only: the foundation models, and this account's inference profiles
            assert set(resources) == {
                "arn:aws:bedrock:*::foundation-model/*",
                "arn:aws:bedrock:*:123456789012:inference-profile/*",
            }, name
            callers[name] = [call for call in calls if not any(fnmatchcase(call, allowed) for allowed in resources)]

    assert callers == {
        name: [] for name in ("TriggerFunction", "CompactionFunction", "TurnFunction", "InvokeFunction", "McpFunction")
    }


def test_api_gateways_own_throttling_is_a_429_rate_limited_with_retry_after(translated):
    (api,) = (r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")

    throttled = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]["THROTTLED"]

    assert throttled["statusCode"] == "429"
    assert throttled["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    assert '"code": "rate_limited"' in throttled["responseTemplates"]["application/json"]
