"""Every function, run from the built artifacts as Lambda runs it, answers real events for each of its routes and
triggers against moto on loopback; what each one called in AWS is then checked against its policy."""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.events.models import EventPattern

from infra.local_worker import sqs_event
from tests.conftest import ADMIN_KEY, OFFLINE_MODEL
from tests.deployed.conftest import PARAMETERS, Deployment, free_port, wait_for
from tests.events import api_gateway_event, authorizer_request_event, sample_path_parameters
from tests.template.conftest import functions, sam_template
from tests.template.test_template import template_routes

# One build, one moto server and the functions' processes for both modules: one test process runs them (the first
# test builds the artifacts).
pytestmark = [pytest.mark.xdist_group("deployed"), pytest.mark.timeout(300)]

SENTENCE = "The build pipeline caches wheels per requirements hash so a layer rebuild is quick. "
WEB_ADAPTER_FUNCTIONS = {name for name, props in functions(sam_template()).items() if props["Handler"].endswith(".sh")}


class Api:
    """API Gateway in front of the buffered functions: REST proxy events with the authorizer's tenant."""

    def __init__(self, deployment: Deployment, tenant_id: str | None = None) -> None:
        self.deployment, self.tenant_id = deployment, tenant_id
        self.routes = template_routes(sam_template())

    def call(self, method: str, resource: str, params: dict | None = None, body: Any = None, **kwargs: Any) -> Any:
        function = self.routes[(method, resource)]
        event = api_gateway_event(method, resource, params, body=body, tenant_id=self.tenant_id, **kwargs)
        response = self.deployment.function(function).invoke(event)
        return response["statusCode"], json.loads(response["body"]) if response["body"] else None


@pytest.fixture(scope="module")
def tenant(deployment: Deployment) -> dict[str, str]:
    admin = Api(deployment)
    status, created = admin.call(
        "POST", "/v1/admin/tenants", body={"name": "deployed"}, headers={"X-Admin-Key": ADMIN_KEY}
    )
    assert status == 201, created
    tenant_id = created["data"]["id"]
    status, issued = admin.call(
        "POST", "/v1/admin/tenants/{tenantId}/keys", {"tenantId": tenant_id}, headers={"X-Admin-Key": ADMIN_KEY}
    )
    assert status == 201, issued
    return {"id": tenant_id, "key": issued["data"]["key"]}


@pytest.fixture(scope="module")
def api(deployment: Deployment, tenant: dict[str, str]) -> Api:
    return Api(deployment, tenant["id"])


@pytest.fixture(scope="module")
def agents(api: Api) -> dict[str, str]:
    """The offline model, with `code-assistant` and `tiny` (a 1,000-token window that auto-compacts at 800)."""
    _, model = api.call("POST", "/v1/models", body=OFFLINE_MODEL)
    _, small = api.call("POST", "/v1/models", body={**OFFLINE_MODEL, "context_window": 1_000, "max_output_tokens": 100})
    status, agent = api.call(
        "POST",
        "/v1/agents",
        body={"name": "Code assistant", "slug": "code-assistant", "default_model_id": model["id"]}
        | {"capabilities": [{"ref": "current_time"}]},
    )
    assert status == 201, agent
    status, tiny = api.call(
        "POST", "/v1/agents", body={"name": "Tiny", "slug": "tiny", "default_model_id": small["id"]}
    )
    assert status == 201, tiny
    return {"code-assistant": agent["id"], "tiny": tiny["id"]}


def receive_all(deployment: Deployment, queue: str) -> list[dict[str, Any]]:
    """What a queue holds, as the event source mapping would receive it (with its attributes)."""
    sqs = deployment.aws.client("sqs")
    url = deployment.aws.refs[queue]
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages"):
        messages += batch
    return messages


def deliver(deployment: Deployment, queue: str, function: str) -> int:
    """Deliver a queue's messages to its function one batch of the template's size at a time, deleting what it
    finished as the event source mapping does; none may fail."""
    source = next(
        event["Properties"]
        for event in functions(sam_template())[function]["Events"].values()
        if event["Type"] == "SQS"
    )
    messages = receive_all(deployment, queue)
    for start in range(0, len(messages), source["BatchSize"]):
        event = sqs_event(messages[start : start + source["BatchSize"]], deployment.aws.arns[queue])
        assert deployment.function(function).invoke(event) == {"batchItemFailures": []}
        for message in messages[start : start + source["BatchSize"]]:
            deployment.aws.client("sqs").delete_message(
                QueueUrl=deployment.aws.refs[queue], ReceiptHandle=message["ReceiptHandle"]
            )
    return len(messages)


def test_each_function_sees_only_its_code_the_layer_and_the_runtime(deployment: Deployment):
    """Each function runs from the directories `make deploy`'s template names, and everything it imports is there."""
    code = deployment.code
    deployment.start(name for name in code.functions if name not in WEB_ADAPTER_FUNCTIONS)
    for name in code.functions:
        if name in WEB_ADAPTER_FUNCTIONS:
            continue
        init = deployment.function(name).init
        stdlib = Path(init["modules"]["os"]).parent
        allowed = (str(code.functions[name]), str(code.layer), str(deployment.runtime.runtime_dir))
        outside = {
            module: path
            for module, path in init["modules"].items()
            if not path.startswith(allowed) and not Path(path).is_relative_to(stdlib)
        }
        assert outside == {}, name
        handler_module = functions(sam_template())[name]["Handler"].rsplit(".", 1)[0]
        assert Path(init["modules"][handler_module]).parent == code.functions[name]


def test_the_authorizer_maps_a_key_to_its_tenant_and_refuses_others(deployment: Deployment, tenant):
    authorizer = deployment.function("AuthorizerFunction")

    policy = authorizer.invoke(authorizer_request_event({"X-API-Key": tenant["key"]}))
    assert policy["principalId"] == tenant["id"] and policy["context"] == {"tenantId": tenant["id"]}
    policy = authorizer.invoke(authorizer_request_event({"Authorization": f"Bearer {tenant['key']}"}))
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    with pytest.raises(AssertionError, match="Unauthorized"):
        authorizer.invoke(authorizer_request_event({"X-API-Key": "wrong"}))


def test_the_default_model_is_the_one_the_stack_s_parameters_name(api: Api):
    """A stack deployed with the template's defaults lists its Bedrock model as the built-in default, not the
    offline model (which local runs and the tests keep)."""
    status, models = api.call("GET", "/v1/models")

    assert status == 200, models
    default = models["data"][0]
    assert (default["source"], default["provider"]) == ("predefined", "bedrock")
    assert default["model_id"] == sam_template()["Parameters"]["DefaultModelId"]["Default"]


def test_every_route_of_the_buffered_functions_is_served(api: Api):
    for (method, resource), function in sorted(api.routes.items()):
        if function in WEB_ADAPTER_FUNCTIONS:
            continue
        params = sample_path_parameters(resource)
        status, body = api.call(method, resource, params, body={} if method in {"POST", "PATCH", "PUT"} else None)
        assert status < 500, (method, resource, body)
        if status >= 400:
            assert body["error"]["message"] != "Not Found", f"{function} does not serve {method} {resource}"


def test_a_preflight_from_an_allowed_origin_is_answered_by_the_built_function_without_a_key(deployment: Deployment):
    origin = PARAMETERS["CorsAllowedOrigins"]
    preflight = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key",
    }
    event = api_gateway_event("OPTIONS", "/v1/aip/sessions", headers=preflight)  # no authorizer ran: no tenant
    function = template_routes(sam_template())[("OPTIONS", "/v1/aip/sessions")]

    response = deployment.function(function).invoke(event)

    headers = {name.lower(): values[-1] for name, values in response.get("multiValueHeaders", {}).items()}
    headers |= {name.lower(): value for name, value in response.get("headers", {}).items()}
    assert response["statusCode"] == 200 and headers["access-control-allow-origin"] == origin


def test_the_mcp_function_lists_its_tools_and_runs_them_for_the_authorizer_s_tenant(api: Api):
    """JSON-RPC through API Gateway's proxy event to the built function: the revision without initialize, the Host
    API Gateway passes (the one MCP_ALLOWED_HOSTS names), the tenant from the authorizer."""
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}

    def rpc(number: int, method: str, params: dict[str, Any]) -> Any:
        request = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
        status, answer = api.call("POST", "/mcp", body=request, headers=headers)
        assert status == 200 and answer["id"] == number and "error" not in answer, answer
        return answer["result"]

    tools = rpc(1, "tools/list", {})["tools"]
    created = rpc(2, "tools/call", {"name": "create_session", "arguments": {"name": "over mcp"}})
    session_id = created["structuredContent"]["id"]
    got = rpc(3, "tools/call", {"name": "get_session", "arguments": {"sessionId": session_id}})

    assert {"create_session", "get_session", "invoke_agent"} <= {tool["name"] for tool in tools}
    assert not created.get("isError") and not got.get("isError"), (created, got)
    assert got["structuredContent"]["name"] == "over mcp"
    status, rest = api.call("GET", "/v1/aip/sessions/{sessionId}", {"sessionId": session_id})
    assert status == 200 and rest["data"]["name"] == "over mcp"


def test_blocks_compaction_and_automatic_compaction(deployment: Deployment, api: Api, agents):
    status, session = api.call("POST", "/v1/aip/sessions", body={"name": "deployed", "defaultAgent": "tiny"})
    assert status == 201, session
    sid = {"sessionId": session["data"]["id"]}
    for number in range(12):
        body = {"sessionId": sid["sessionId"], "type": "note", "content": f"{number}: " + SENTENCE * 3}
        status, block = api.call("POST", "/v1/aip/blocks", body=body)
        assert status == 201, block

    status, job = api.call(
        "POST", "/v1/aip/sessions/{sessionId}/compact", sid, {"targetTokens": 100}, headers={"Prefer": "respond-async"}
    )
    assert status == 202, job
    assert deliver(deployment, "CompactionQueue", "CompactionFunction") >= 1
    status, jobs = api.call("GET", "/v1/aip/sessions/{sessionId}/compactions", sid)
    assert {j["status"] for j in jobs["data"]} == {"completed"}, jobs


def test_dead_lettered_compactions_fail_and_deleted_sessions_are_purged(deployment: Deployment, api: Api):
    status, session = api.call("POST", "/v1/aip/sessions", body={"name": "short-lived"})
    sid = {"sessionId": session["data"]["id"]}
    for number in range(3):
        api.call(
            "POST", "/v1/aip/blocks", body={"sessionId": sid["sessionId"], "type": "note", "content": f"n{number}"}
        )
    status, job = api.call(
        "POST", "/v1/aip/sessions/{sessionId}/compact", sid, {"targetTokens": 5}, headers={"Prefer": "respond-async"}
    )
    assert status == 202, job
    sqs = deployment.aws.client("sqs")
    (message,) = receive_all(deployment, "CompactionQueue")  # as if every delivery of it had failed
    sqs.send_message(QueueUrl=deployment.aws.refs["CompactionDeadLetterQueue"], MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=deployment.aws.refs["CompactionQueue"], ReceiptHandle=message["ReceiptHandle"])
    assert deliver(deployment, "CompactionDeadLetterQueue", "CompactionDeadLetterFunction") == 1
    _, jobs = api.call("GET", "/v1/aip/sessions/{sessionId}/compactions", sid)
    assert [j["status"] for j in jobs["data"]] == ["failed"], jobs

    status, _ = api.call("DELETE", "/v1/aip/sessions/{sessionId}", sid)
    assert status in (200, 202, 204)
    assert deliver(deployment, "SessionJobQueue", "SessionJobFunction") >= 1
    status, _ = api.call("GET", "/v1/aip/sessions/{sessionId}", sid)
    assert status == 404


def test_turns_run_from_the_turn_queue(deployment: Deployment, api: Api, agents):
    status, session = api.call("POST", "/v1/sessions", body={"agent_id": agents["tiny"], "title": "deployed"})
    assert status == 201, session
    sid = {"session_id": session["id"]}
    for _ in range(2):
        body = {"message": {"content": [{"type": "text", "text": SENTENCE * 25}]}}
        status, message = api.call("POST", "/v1/sessions/{session_id}/messages", sid, body)
        assert status == 201, message
        assert deliver(deployment, "TurnQueue", "TurnFunction") == 1

    status, events = api.call("GET", "/v1/sessions/{session_id}/events", sid, query={"limit": "1000"})
    assert [e["type"] for e in events["data"]].count("turn.completed") == 2, events
    deliver(deployment, "CompactionQueue", "CompactionFunction")


def test_triggered_invocations_run_from_the_trigger_queue(deployment: Deployment, api: Api, agents, tenant):
    _, session = api.call("POST", "/v1/aip/sessions", body={"name": "triggered", "defaultAgent": "tiny"})
    request = {
        "tenantId": tenant["id"],
        "correlationId": "upload-42",
        "blocks": [{"type": "file", "content": {"path": "reports/q3.csv", "content": "region,revenue\neu,10"}}],
        "invoke": {"agent": "tiny", "prompt": SENTENCE * 60, "session": session["data"]["id"]},
    }
    deployment.aws.client("sqs").send_message(
        QueueUrl=deployment.aws.refs["TriggerQueue"], MessageBody=json.dumps(request)
    )

    assert deliver(deployment, "TriggerQueue", "TriggerFunction") == 1
    _, view = api.call("GET", "/v1/aip/sessions/{sessionId}", {"sessionId": session["data"]["id"]})
    assert view["data"]["metrics"]["invocationCount"] == 1


@pytest.fixture(scope="module")
def web_adapter_app(deployment: Deployment) -> Iterator[str]:
    """The invoke function started as Lambda starts it: its run.sh, in /var/task, with the layer at /opt.

    The test plays the Lambda Web Adapter: it waits for the readiness path, then forwards requests over HTTP.
    /opt is the built layer inside a private mount namespace, as the layer is in Lambda (needs root: `unshare`).
    """
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs `unshare -m` (root) to mount the layer at /opt")
    (name,) = WEB_ADAPTER_FUNCTIONS
    environment = deployment.environment(name)
    environment["PORT"] = str(free_port())  # the template's 8080 may be taken on a shared machine
    code = deployment.code.functions[name]
    mount = 'mount --bind "$0" /opt && exec "$LAMBDA_TASK_ROOT/$_HANDLER"'
    process = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", mount, str(deployment.code.layer)],
        env=environment,
        cwd=code,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{environment['PORT']}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"run.sh exited {process.returncode}:\n{process.stdout.read()}")  # type: ignore[union-attr]
        try:
            return httpx.get(base + environment["AWS_LWA_READINESS_CHECK_PATH"]).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(ready)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def test_the_invoke_function_starts_from_run_sh_and_streams(web_adapter_app: str, api: Api, agents, tenant):
    headers = {"X-API-Key": tenant["key"], "X-AIP-Agent": "code-assistant"}
    assert httpx.get(web_adapter_app + "/health").json()["status"] == "ok"
    _, session = api.call("POST", "/v1/aip/sessions", body={"name": "streamed", "defaultAgent": "tiny"})
    session_id = session["data"]["id"]

    body = {"agent": "tiny", "prompt": SENTENCE * 60, "session": session_id, "stream": True}
    with httpx.stream("POST", web_adapter_app + "/v1/aip/invoke", json=body, headers=headers, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        names = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]
    assert names[0] == "start" and "text_delta" in names and names[-1] == "complete", names

    for path in ("/.well-known/aip/agent", "/v1/aip/agents", f"/v1/aip/sessions/{session_id}/invocations"):
        response = httpx.get(web_adapter_app + path, headers=headers)
        assert response.status_code == 200, (path, response.text)
    (invocation, *_) = response.json()["data"]
    response = httpx.get(
        web_adapter_app + f"/v1/aip/sessions/{session_id}/invocations/{invocation['id']}", headers=headers
    )
    assert response.status_code == 200, response.text


def _fork_whose_copy_job_was_lost(deployment: Deployment, api: Api) -> str:
    """A fork with blocks left for its copy job (60 kept: more than its request copies), whose request's own send of
    that job is taken off the queue, as if the request had stopped after its commit."""
    _, source = api.call("POST", "/v1/aip/sessions", body={"name": "forked"})
    sid = {"sessionId": source["data"]["id"]}
    blocks = [{"type": "note", "content": f"n{number}", "tags": ["kept"]} for number in range(60)]
    status, _ = api.call("POST", "/v1/aip/sessions/{sessionId}/blocks", sid, {"blocks": blocks})
    assert status == 201
    status, fork = api.call("POST", "/v1/aip/sessions/{sessionId}/fork", sid, {"name": "f", "includeByTag": ["kept"]})
    assert status == 201, fork
    sqs = deployment.aws.client("sqs")
    for message in receive_all(deployment, "SessionJobQueue"):
        sqs.delete_message(QueueUrl=deployment.aws.refs["SessionJobQueue"], ReceiptHandle=message["ReceiptHandle"])
    return str(fork["data"]["id"])


def test_committed_changes_are_published_from_the_table_stream(deployment: Deployment, api: Api):
    """The records the earlier tests committed, read from the table's stream as the event source mapping does."""
    fork_id = _fork_whose_copy_job_was_lost(deployment, api)
    streams = deployment.aws.client("dynamodbstreams")
    table = deployment.aws.refs["ContextTable"]
    (stream,) = streams.list_streams(TableName=table)["Streams"]
    shards = streams.describe_stream(StreamArn=stream["StreamArn"])["StreamDescription"]["Shards"]
    records = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream["StreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    assert records
    source = functions(sam_template())["EventsFunction"]["Events"]["ContextChanges"]["Properties"]
    records = [json.loads(json.dumps(r | {"eventSourceARN": stream["StreamArn"]}, default=_epoch)) for r in records]
    patterns = [EventPattern.load(f["Pattern"]) for f in source["FilterCriteria"]["Filters"]]
    passed = [record for record in records if any(pattern.matches_event(record) for pattern in patterns)]
    assert 0 < len(passed) < len(records)  # the event source mapping's filter, as Lambda applies it
    events = deployment.function("EventsFunction")
    for start in range(0, len(passed), source["BatchSize"]):
        assert events.invoke({"Records": passed[start : start + source["BatchSize"]]}) == {"batchItemFailures": []}
    deliver(deployment, "TurnQueue", "TurnFunction")  # turns dispatched again from the stream run at most once
    assert deliver(deployment, "SessionJobQueue", "SessionJobFunction") >= 1  # the fork's copy, from the stream
    _, fork = api.call("GET", "/v1/aip/sessions/{sessionId}", {"sessionId": fork_id})
    assert fork["data"]["metrics"]["blockCount"] == 60 and fork["meta"].get("blocksTruncated") is not True


def _epoch(value: Any) -> Any:
    return value.timestamp() if hasattr(value, "timestamp") else str(value)


def test_zz_every_aws_call_a_function_made_is_allowed_by_its_policy(deployment: Deployment, translated):
    """Runs last: the calls recorded while the tests above ran each function."""
    from tests.deployed.permissions import allowed, policy_statements

    assert set(deployment.aws.calls) >= {
        "SessionsFunction",
        "McpFunction",
        "TurnFunction",
        "EventsFunction",
        "CompactionFunction",
    }
    denied = {
        function: sorted(f"{call.action} {call.resource}" for call in calls if not allowed(call, statements))
        for function, calls in deployment.aws.calls.items()
        for statements in [policy_statements(translated, function, deployment.aws)]
    }
    assert {function: calls for function, calls in denied.items() if calls} == {}
