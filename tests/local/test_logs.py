"""Inside Lambda the same records are Powertools JSON with the same keys, and EMF metric lines appear there only."""

import json
import os
import subprocess
import sys

from tests.local.server import ROOT

# One request through the sessions function's handler, as API Gateway sends it, in a fresh interpreter (the
# logger's shape is chosen at import, from AWS_LAMBDA_FUNCTION_NAME).
SCRIPT = """
import json
from tests.conftest import RESOURCES
from tests.events import LambdaContext, api_gateway_event
from tests.template.conftest import functions, load_handler, sam_template
from infra.local_aws import local_aws

with local_aws(RESOURCES):
    from agentctx.wiring import tenant_service
    tenant = tenant_service().create_tenant("logs")
    handler = load_handler(functions(sam_template())["SessionsFunction"])
    event = api_gateway_event("POST", "/v1/aip/sessions", body={"name": "logged"}, tenant_id=tenant.id)
    response = handler(event, LambdaContext())
    print("STATUS", response["statusCode"], event["requestContext"]["requestId"], tenant.id)
"""


def run_handler(in_lambda: bool) -> tuple[list[str], str, str]:
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}"}
    environment.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    if in_lambda:
        environment["AWS_LAMBDA_FUNCTION_NAME"] = "agentctx-sessions"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    status, request_id, tenant_id = next(line for line in lines if line.startswith("STATUS")).split()[1:]
    assert status == "201"
    return lines, request_id, tenant_id + "\n" + result.stderr


def test_inside_lambda_the_request_line_is_powertools_json_with_the_same_keys_and_emf_is_printed():
    lines, request_id, rest = run_handler(in_lambda=True)
    tenant_id, stderr = rest.split("\n", 1)
    records = [json.loads(line) for line in lines if line.startswith("{")]

    request = next(record for record in records if record.get("message") == "request")
    assert {key: request[key] for key in ("method", "path", "status", "tenant_id", "request_id")} == {
        "method": "POST",
        "path": "/v1/aip/sessions",
        "status": 201,
        "tenant_id": tenant_id,
        "request_id": request_id,
    }
    assert isinstance(request["ms"], float) and request["level"] == "INFO" and request["function_name"]
    assert any("_aws" in record and "ApiRequests" in json.dumps(record) for record in records)
    assert "Warning" not in stderr


def test_outside_lambda_the_same_request_is_one_readable_line_and_no_emf():
    lines, request_id, rest = run_handler(in_lambda=False)
    tenant_id, stderr = rest.split("\n", 1)

    request_lines = [line for line in lines if " request method=" in line]
    assert len(request_lines) == 1
    assert "method=POST path=/v1/aip/sessions status=201" in request_lines[0]
    assert f"tenant_id={tenant_id}" in request_lines[0] and f"request_id={request_id}" in request_lines[0]
    assert not any(line.startswith("{") for line in lines)
    assert "Warning" not in stderr


# A queue job on a worker thread, then a request, in one process as `make serve` runs them.
JOB_THEN_REQUEST = """
import threading
from fastapi.testclient import TestClient
from tests.conftest import RESOURCES
from tests.template.conftest import functions, load_handler, sam_template
from infra.local_aws import local_aws
from infra.local_worker import QueueWorker

with local_aws(RESOURCES) as queues:
    from agentctx.api.full import full_app
    from agentctx.wiring import tenant_service
    tenant = tenant_service().create_tenant("logs")
    _, key = tenant_service().issue_key(tenant.id)
    worker = QueueWorker(queues["SessionJobQueue"], load_handler(functions(sam_template())["SessionJobFunction"]))
    with TestClient(full_app()) as http:
        session = http.post("/v1/aip/sessions", json={"name": "purged"}, headers={"X-API-Key": key}).json()["data"]
        http.delete(f"/v1/aip/sessions/{session['id']}", headers={"X-API-Key": key}).raise_for_status()
        job = threading.Thread(target=worker.poll, kwargs={"wait_seconds": 1})
        job.start()
        job.join()
        print("HEALTH", http.get("/health").status_code)
"""


def test_a_request_after_a_queue_job_carries_none_of_the_jobs_keys():
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}"}
    environment.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    result = subprocess.run(
        [sys.executable, "-c", JOB_THEN_REQUEST], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()

    [job] = [line for line in lines if " job queue=" in line]
    [health] = [line for line in lines if "request method=GET path=/health" in line]
    assert "outcome=done" in job and "HEALTH 200" in lines
    assert not any(key in health for key in ("session_job=", "session=", "tenant_id=org_")), health
