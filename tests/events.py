"""Realistic Lambda events, shaped like the samples `sam local generate-event` prints, built in one place."""

import json
import uuid
from typing import Any

API_ID = "abcdef1234"  # the REST API's id: its host is {API_ID}.execute-api.{region}.amazonaws.com
# A well-formed value for each path parameter the template's routes use.
SAMPLE_PATH_VALUES = {
    "sessionId": "sess_" + "a" * 32,
    "blockId": "blk_" + "a" * 58,
    "tenantId": "org_x",
    "keyId": "key_x",
    "session_id": "session_" + "a" * 32,
    "ref": "current_time",
    "compactionId": "cjob_" + "a" * 32,
    "invocationId": "inv_" + "a" * 32,
    "model_id": "model_" + "a" * 32,
    "agent_id": "agent_" + "a" * 32,
}


def sample_path_parameters(resource: str) -> dict[str, str]:
    """Values for the path parameters an API Gateway resource such as `/v1/aip/blocks/{blockId}` names."""
    return {name: value for name, value in SAMPLE_PATH_VALUES.items() if "{" + name + "}" in resource}


def api_gateway_event(
    method: str,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    tenant_id: str | None = None,
    stage: str = "live",
) -> dict[str, Any]:
    """A REST API (v1) proxy event, with the Lambda authorizer's context when a tenant is given."""
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    all_headers = {
        "Accept": "application/json",
        "Host": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "curl/8.5.0",
        "X-Forwarded-For": "203.0.113.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **({"Content-Type": "application/json"} if body is not None else {}),
        **(headers or {}),
    }
    request_id = str(uuid.uuid4())
    authorizer = {"principalId": tenant_id, "tenantId": tenant_id, "integrationLatency": 12} if tenant_id else None
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "a1b2c3",
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": "Ab1CdEFgHIJKLMN=",
            "requestTime": "22/Nov/2026:10:00:00 +0000",
            "requestTimeEpoch": 1795341600000,
            "path": f"/{stage}{path}",
            "resourcePath": resource,
            "httpMethod": method,
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"},
            "domainName": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
            "apiId": API_ID,
            **({"authorizer": authorizer} if authorizer else {}),
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def authorizer_request_event(headers: dict[str, str], method: str = "GET", resource: str = "/v1/aip/sessions") -> dict:
    """The REQUEST-type Lambda authorizer event API Gateway sends for a REST API."""
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:abcdef1234/live/{method}{resource}",
        "resource": resource,
        "path": resource,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "stage": "live",
            "requestId": str(uuid.uuid4()),
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/live{resource}",
            "identity": {"sourceIp": "203.0.113.10"},
        },
    }


class LambdaContext:
    """What the Lambda runtime passes as context, with the attributes Powertools reads."""

    function_name = "agentctx-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:agentctx-test"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/agentctx-test"
    log_stream_name = "2026/11/22/[$LATEST]abcdef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 28_000


class DeadlineContext(LambdaContext):
    """A context whose remaining time runs down from the function's timeout from the moment it is made, as
    Lambda's does through an invocation; `clock` stands in for time (a test can move it on)."""

    def __init__(self, timeout_seconds: float, clock: Any = None) -> None:
        import time

        self.clock = clock or time.monotonic
        self.deadline = self.clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return max(0, int((self.deadline - self.clock()) * 1000))
