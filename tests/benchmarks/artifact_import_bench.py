"""Cold import of every function from the built artifacts (`make package`'s builder, for this machine's
architecture), each in a fresh bare interpreter that sees only the function's code, the layer and the runtime's
boto3, as Lambda does; beside `import boto3` in the same interpreter. Median of 5.

Targets: HTTP functions at most 3x `import boto3`, queue and stream functions at most 1.5x.

A function that imports less at first pays the rest on its first event (boto3 and its clients, the services it
runs, the tokenizer), so beside the import there is a second figure: the import and a first realistic event
handled, in the same kind of bare process, against moto in server mode (tests/deployed/'s runner).
"""

import json
import os
import statistics
import subprocess
import uuid
from pathlib import Path
from typing import Any

from infra.local_worker import sqs_event
from infra.package import Artifacts, build, host_target
from infra.template import load_template
from tests.conftest import ADMIN_KEY
from tests.deployed.conftest import Deployment, LambdaProcess, local_aws_server
from tests.deployed.runtime import LambdaRuntime, managed_runtime
from tests.events import api_gateway_event, authorizer_request_event

RUNS = 5
HTTP_TARGET, QUEUE_TARGET = 3.0, 1.5


def _import_ms(runtime: LambdaRuntime, paths: list[str], statement: str, environment: dict[str, str]) -> float:
    code = (
        f"import sys, time; sys.path[:0] = {paths!r}; s = time.perf_counter(); {statement}; "
        "print((time.perf_counter() - s) * 1000)"
    )
    output = subprocess.run(
        [str(runtime.python), "-I", "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return float(output.stdout.strip().splitlines()[-1])


def _entry_module(code: Path, handler: str) -> str:
    """The module Lambda imports first: the handler's, or for a web adapter function the app uvicorn serves."""
    if handler.endswith(".sh"):  # run.sh: python3 -m uvicorn ... --http h11 --lifespan off app:app
        return "uvicorn.__main__, uvicorn.protocols.http.h11_impl, uvicorn.lifespan.off, app"
    return handler.rsplit(".", 1)[0]


def measure(artifacts: Artifacts, runtime: LambdaRuntime) -> list[tuple[str, str, float, float]]:
    """(function, kind, median ms, x import boto3) for every function of the template."""
    template = load_template()
    plain = {
        name: value
        for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items()
        if isinstance(value, str)
    }
    environment = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", **plain}
    boto3_ms = statistics.median(
        _import_ms(runtime, [str(runtime.runtime_dir)], "import boto3", environment) for _ in range(RUNS)
    )
    rows = [("import boto3", "", boto3_ms, 1.0)]
    for name, code in artifacts.functions.items():
        properties = template["Resources"][name]["Properties"]
        kind = "http" if any(e["Type"] == "Api" for e in properties.get("Events", {}).values()) else "queue/stream"
        kind = "authorizer" if not properties.get("Events") else kind
        paths = [str(code), str(artifacts.layer), str(runtime.runtime_dir)]
        env = {**environment, "LAMBDA_TASK_ROOT": str(code), "AWS_LAMBDA_FUNCTION_NAME": name}
        statement = f"import {_entry_module(code, properties['Handler'])}"
        ms = statistics.median(_import_ms(runtime, paths, statement, env) for _ in range(RUNS))
        rows.append((name, kind, ms, ms / boto3_ms))
    return rows


def _sqs(body: dict[str, Any]) -> dict[str, Any]:
    message = {"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": json.dumps(body)}
    return sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:queue")


def _first_events(tenant_id: str, session_id: str) -> dict[str, dict[str, Any]]:
    """Per function, the first event of a new container: an ordinary request on an API route, and for a queue or
    the stream a message about work that is already gone (what every message pays before its own work)."""
    session_hex, job = session_id.removeprefix("sess_"), "cjob_" + "0" * 32
    api = {
        "SessionsFunction": api_gateway_event("GET", "/v1/aip/sessions", tenant_id=tenant_id),
        "BlocksFunction": api_gateway_event(
            "POST",
            "/v1/aip/blocks",
            body={"sessionId": session_id, "type": "note", "content": "bench"},
            tenant_id=tenant_id,
        ),
        "AdminFunction": api_gateway_event(
            "POST", "/v1/admin/tenants", body={"name": "bench"}, headers={"X-Admin-Key": ADMIN_KEY}
        ),
        "CatalogFunction": api_gateway_event("GET", "/v1/models", tenant_id=tenant_id),
        "RuntimeFunction": api_gateway_event("GET", "/v1/sessions", tenant_id=tenant_id),
        # the MCP SDK is imported on the first request, not with the handler: this is where it is paid
        "McpFunction": api_gateway_event(
            "POST",
            "/mcp",
            body={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"},
            tenant_id=tenant_id,
        ),
    }
    stream_record = {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": f"T#{tenant_id}#S#{session_hex}"}, "sk": {"S": "SESSION"}},
            "NewImage": {"name": {"S": "bench"}, "tags": {"L": []}, "createdAt": {"S": "2026-11-25T12:00:00.000Z"}},
            "SequenceNumber": "1",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    gone = {"tenantId": tenant_id, "sessionHex": session_hex, "jobKey": job}
    return api | {
        "AuthorizerFunction": authorizer_request_event({"X-API-Key": "ak_not_a_key"}),
        "EventsFunction": {"Records": [stream_record]},
        "TriggerFunction": _sqs({"tenantId": tenant_id, "invoke": {"agent": "no-such-agent", "prompt": "hello"}}),
        "CompactionFunction": _sqs(gone),
        "CompactionDeadLetterFunction": _sqs(gone),
        "SessionJobFunction": _sqs({"kind": "purge", "tenantId": tenant_id, "sessionHex": "0" * 32}),
        "TurnFunction": _sqs({"tenantId": tenant_id, "sessionHex": "0" * 32, "turnSeq": 1}),
    }


def first_event_ms(artifacts: Artifacts, runtime: LambdaRuntime) -> dict[str, float]:
    """Per function, median of RUNS fresh containers: the handler's import plus its first event handled, both timed
    inside the function's process, against moto in server mode (as tests/deployed/ runs the functions)."""
    template = load_template()
    with local_aws_server() as aws:
        deployment = Deployment(aws, runtime, artifacts)
        admin = deployment.function("AdminFunction")
        created = admin.invoke(
            api_gateway_event("POST", "/v1/admin/tenants", body={"name": "bench"}, headers={"X-Admin-Key": ADMIN_KEY})
        )
        tenant_id = json.loads(created["body"])["data"]["id"]
        sessions = deployment.function("SessionsFunction")
        opened = sessions.invoke(
            api_gateway_event("POST", "/v1/aip/sessions", body={"name": "bench"}, tenant_id=tenant_id)
        )
        session_id = json.loads(opened["body"])["data"]["id"]
        for started in deployment.processes.values():
            started.close()
        medians = {}
        for name, event in _first_events(tenant_id, session_id).items():
            timeout = template["Resources"][name]["Properties"].get(
                "Timeout", template["Globals"]["Function"]["Timeout"]
            )
            samples = []
            for _ in range(RUNS):
                container = LambdaProcess(name, deployment.environment(name), runtime, artifacts.layer, timeout)
                answer = container.send(event)
                container.close()
                samples.append(container.init["import_ms"] + answer["ms"])
            medians[name] = statistics.median(samples)
        return medians


def artifact_import_times() -> list[str]:
    artifacts = build(*host_target())
    runtime = managed_runtime(artifacts)
    rows = measure(artifacts, runtime)
    boto3_ms = rows[0][2]
    first = first_event_ms(artifacts, runtime)
    lines = [
        f"Built for {artifacts.root.name} (.pyc precompiled); interpreter {os.path.basename(artifacts.python)}; "
        f"load average {os.getloadavg()[0]:.2f} at the end.\n",
        "| function | kind | import, median of 5 (ms) | × import boto3 | target | import + first event (ms) | × |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, kind, ms, ratio in rows:
        target = {"http": f"≤ {HTTP_TARGET}", "authorizer": f"≤ {HTTP_TARGET}", "queue/stream": f"≤ {QUEUE_TARGET}"}
        limit = target.get(kind, "")
        met = "" if not limit else (" ✓" if ratio <= float(limit.split()[-1]) else " ✗")
        with_event = f"{first[name]:.0f} | {first[name] / boto3_ms:.2f}" if name in first else "| "
        lines.append(f"| {name} | {kind} | {ms:.0f} | {ratio:.2f} | {limit}{met} | {with_event} |")
    return lines


if __name__ == "__main__":
    print("\n".join(artifact_import_times()))
