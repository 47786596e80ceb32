"""Every handler the template names imports from its CodeUri and answers a realistic event for its routes."""

import json

import pytest

from agentctx.settings import get_settings
from tests.conftest import ADMIN_KEY, new_caller
from tests.events import LambdaContext, api_gateway_event, authorizer_request_event, sample_path_parameters
from tests.template.conftest import functions, load_handler, sam_template, web_adapter_app
from tests.template.test_template import template_routes

ROUTES = sorted(template_routes(sam_template()).items())
WEB_ADAPTER_FUNCTIONS = {name for name, props in functions(sam_template()).items() if props["Handler"].endswith(".sh")}


def invoke(function_name: str, event: dict) -> tuple[int, dict]:
    handler = load_handler(functions(sam_template())[function_name])
    response = handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def through_web_adapter(function_name: str, event: dict, http) -> tuple[int, dict]:
    """What the Lambda Web Adapter does with an API Gateway event: the same request, over HTTP, to the app."""
    from fastapi.testclient import TestClient

    caller = new_caller(http)
    app = web_adapter_app(functions(sam_template())[function_name])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(
            event["httpMethod"],
            event["path"],
            content=event["body"],
            headers={**event["headers"], "X-API-Key": caller.key, "X-AIP-Agent": "code-assistant"},
        )
    assert response.headers["X-Request-Id"]
    return response.status_code, response.json()


@pytest.mark.parametrize(("route", "function_name"), ROUTES, ids=[f"{m} {p}" for (m, p), _ in ROUTES])
def test_function_serves_its_routes(http, route, function_name):
    method, resource = route
    parameters = sample_path_parameters(resource)
    event = api_gateway_event(
        method, resource, parameters, body={} if method in {"POST", "PATCH"} else None, tenant_id="org_" + "1" * 32
    )

    if function_name in WEB_ADAPTER_FUNCTIONS:
        status, body = through_web_adapter(function_name, event, http)
        event["requestContext"]["requestId"] = None
    else:
        status, body = invoke(function_name, event)

    assert status < 500, body
    if status >= 400 and body.get("jsonrpc") == "2.0":  # /mcp answers in the protocol's own error shape
        assert set(body) == {"jsonrpc", "id", "error"} and body["error"]["code"] < 0
    elif status >= 400:
        assert set(body) == {"error"} and body["error"]["requestId"]
        assert event["requestContext"]["requestId"] in (None, body["error"]["requestId"])
        assert body["error"]["message"] != "Not Found", "the function does not serve this route"


@pytest.mark.parametrize("function_name", sorted({function for (method, _), function in ROUTES if method == "OPTIONS"}))
def test_each_function_answers_a_preflight_without_a_key_when_an_origin_is_allowed(aws, monkeypatch, function_name):
    origin = "https://console.example.com"
    monkeypatch.setattr(get_settings(), "cors_allowed_origins", (origin,))
    resource = next(path for (method, path), function in ROUTES if method == "OPTIONS" and function == function_name)
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    event = api_gateway_event("OPTIONS", resource, sample_path_parameters(resource), headers=headers)  # no authorizer

    properties = functions(sam_template())[function_name]
    if function_name in WEB_ADAPTER_FUNCTIONS:
        from fastapi.testclient import TestClient

        with TestClient(web_adapter_app(properties)) as client:
            answer = client.options(event["path"], headers=headers)
        status, answer_headers = answer.status_code, {name.lower(): value for name, value in answer.headers.items()}
    else:
        response = load_handler(properties)(event, LambdaContext())
        status = response["statusCode"]
        answer_headers = {name.lower(): ",".join(values) for name, values in response["multiValueHeaders"].items()}
        answer_headers |= {name.lower(): value for name, value in response.get("headers", {}).items()}

    assert status == 200 and answer_headers["access-control-allow-origin"] == origin


def test_session_lifecycle_through_the_lambda_handlers(aws):
    tenant = "org_" + "2" * 32
    status, created = invoke(
        "SessionsFunction",
        api_gateway_event("POST", "/v1/aip/sessions", body={"name": "via lambda", "tags": ["t"]}, tenant_id=tenant),
    )
    assert status == 201
    session_id = created["data"]["id"]

    status, block = invoke(
        "BlocksFunction",
        api_gateway_event(
            "POST", "/v1/aip/blocks", body={"sessionId": session_id, "type": "note", "content": "hi"}, tenant_id=tenant
        ),
    )
    assert status == 201

    status, fetched = invoke(
        "SessionsFunction",
        api_gateway_event("GET", "/v1/aip/sessions/{sessionId}", {"sessionId": session_id}, tenant_id=tenant),
    )
    assert status == 200
    assert fetched["data"]["blocks"] == [block["data"]["id"]]

    status, _ = invoke(
        "SessionsFunction",
        api_gateway_event(
            "GET", "/v1/aip/sessions/{sessionId}", {"sessionId": session_id}, tenant_id="org_" + "3" * 32
        ),
    )
    assert status == 404


def test_admin_function_needs_the_operator_key(aws):
    status, body = invoke("AdminFunction", api_gateway_event("POST", "/v1/admin/tenants", body={"name": "a"}))
    assert status == 401

    status, body = invoke(
        "AdminFunction",
        api_gateway_event("POST", "/v1/admin/tenants", body={"name": "a"}, headers={"X-Admin-Key": ADMIN_KEY}),
    )
    assert status == 201 and body["data"]["id"].startswith("org_")


def test_authorizer_allows_a_valid_key_with_its_tenant(http):
    caller = new_caller(http)
    authorizer = load_handler(functions(sam_template())["AuthorizerFunction"])

    for headers in ({"X-API-Key": caller.key}, {"Authorization": f"Bearer {caller.key}"}):
        policy = authorizer(authorizer_request_event(headers), LambdaContext())
        assert policy["principalId"] == caller.tenant_id
        assert policy["context"] == {"tenantId": caller.tenant_id}
        assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Basic abc"}])
def test_authorizer_refuses_missing_or_unknown_keys(aws, headers):
    authorizer = load_handler(functions(sam_template())["AuthorizerFunction"])

    with pytest.raises(Exception, match="^Unauthorized$"):
        authorizer(authorizer_request_event(headers), LambdaContext())


def test_the_mcp_function_refuses_a_host_other_than_the_domain_api_gateway_received_the_request_on(aws):
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    event = api_gateway_event("POST", "/mcp", body=request, headers=headers, tenant_id="org_" + "1" * 32)
    handler = load_handler(functions(sam_template())["McpFunction"])

    assert handler(event, LambdaContext())["statusCode"] == 200
    event["headers"]["Host"] = event["multiValueHeaders"]["Host"][0] = "rebound.example.com"
    assert handler(event, LambdaContext())["statusCode"] == 421
