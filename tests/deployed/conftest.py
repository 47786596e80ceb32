"""A deploy-faithful local Lambda: the built artifacts, run in fresh processes that see only what Lambda gives them.

- `make package`'s builder makes the artifacts for this machine's architecture (same code, same .pyc), and each
  function runs from the directories its template (the one `make deploy` deploys) names.
- The runtime is an interpreter with nothing installed (a venv without pip) plus a runtime directory holding
  boto3, as Lambda's runtime does; a function sees the standard library, its code, the layer and that boto3.
- The AWS side is moto in server mode on loopback, so every call crosses a real process boundary. Each function
  signs with its own access key id, which lets the server record, per function, every call the code made: the
  permission test checks those against the function's policy in the translated template.
"""

import io
import json
import logging
import re
import socket
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from infra.package import Artifacts, build, host_target
from infra.template import (
    create_event_buses,
    create_queues,
    create_tables,
    create_vector_indexes,
    load_template,
    local_names,
    local_vector_index_arn,
)
from tests.conftest import ADMIN_KEY
from tests.deployed.runtime import LambdaRuntime, managed_runtime
from tests.events import API_ID
from tests.template.conftest import template, translated  # noqa: F401 - fixtures the permission test uses

REGION = "us-east-1"
ACCOUNT = "123456789012"
RUNNER = Path(__file__).with_name("lambda_runner.py")
PARAMETERS = {  # the template's parameters as a deployment gives them: their defaults, but for its own secrets
    **{name: str(spec.get("Default", "")) for name, spec in load_template()["Parameters"].items()},
    "CursorSecretParameter": "/agentctx-deployed/cursor-secret",
    "AdminKeySha256Parameter": "/agentctx-deployed/admin-key-sha256",
    "OpenAIApiKeyParameter": "/agentctx-deployed/openai-api-key",
    "CorsAllowedOrigins": "https://console.example.com",
}
SECRETS = {  # what the operator puts in Parameter Store before deploying (docs/deploy.md)
    "/agentctx-deployed/cursor-secret": "deployed-cursor-secret-that-is-long-enough",
    "/agentctx-deployed/admin-key-sha256": __import__("hashlib").sha256(ADMIN_KEY.encode()).hexdigest(),
    "/agentctx-deployed/openai-api-key": "sk-deployed-not-used",
}


@dataclass(frozen=True)
class AwsCall:
    """One request a function made to AWS, as IAM sees it: the action and the resource it names."""

    action: str
    resource: str


@dataclass
class LocalAws:
    """moto's server on loopback with the template's resources, recording each function's calls."""

    endpoint: str
    refs: dict[str, str]  # logical id -> what !Ref gives (table/bus name, queue URL, parameter value)
    arns: dict[str, str]  # logical id -> ARN
    calls: dict[str, set[AwsCall]] = field(default_factory=lambda: defaultdict(set))

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)


def _requested(service: str, target: str, body: dict[str, Any]) -> list[AwsCall]:
    """The IAM actions and resources of one AWS JSON-protocol request."""
    operation = target.rsplit(".", 1)[-1]
    if service == "dynamodb":
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
        if "TransactItems" in body:
            kinds = {
                "Put": "PutItem",
                "Update": "UpdateItem",
                "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem",
            }
            kinds["Get"] = "GetItem"
            return [
                AwsCall(f"dynamodb:{kinds[kind]}", table + item[kind]["TableName"])
                for item in body["TransactItems"]
                for kind in item
            ]
        if "RequestItems" in body:
            return [AwsCall(f"dynamodb:{operation}", table + name) for name in body["RequestItems"]]
        index = f"/index/{body['IndexName']}" if "IndexName" in body else ""
        return [AwsCall(f"dynamodb:{operation}", table + body.get("TableName", "*") + index)]
    if service == "sqs":
        name = body.get("QueueUrl", "").rsplit("/", 1)[-1]
        action = "SendMessage" if operation == "SendMessageBatch" else operation
        return [AwsCall(f"sqs:{action}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")]
    if service == "events":
        buses = {entry.get("EventBusName", "default") for entry in body.get("Entries", [])} or {"default"}
        return [AwsCall(f"events:{operation}", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}") for bus in buses]
    if service == "ssm":
        names = body.get("Names") or [body.get("Name") or body.get("Path", "")]
        return [AwsCall(f"ssm:{operation}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{n.lstrip('/')}") for n in names]
    return [AwsCall(f"{service}:{operation}", "*")]


class _Recorder:
    """WSGI middleware in front of moto: notes who (access key id) asked for what, then lets moto answer."""

    def __init__(self, app: Any, calls: dict[str, set[AwsCall]]) -> None:
        self.app, self.calls = app, calls

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        credential = authorization.partition("Credential=")[2].split(",")[0].split("/")
        if credential[0].startswith("FN"):  # a function's call; the tests' own (an S3 upload) are not read
            key_id, _, _, service, _ = credential
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(raw)
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target:
                body = json.loads(raw or b"{}")
            else:  # query protocol
                form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
                target, body = form.get("Action", ""), form
            self.calls[key_id[2:]].update(_requested(service, target, body))
        return self.app(environ, start_response)


@contextmanager
def local_aws_server() -> Iterator[LocalAws]:
    """moto's server on loopback, with the template's tables, buses, queues, vector index and the secrets in Parameter
    Store."""
    import boto3
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from infra.local_aws import _apply_dynamodb_requests_one_at_a_time
    from infra.local_vectors import answer_query_vectors

    _apply_dynamodb_requests_one_at_a_time()
    answer_query_vectors()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    calls: dict[str, set[AwsCall]] = defaultdict(set)
    app = _Recorder(DomainDispatcherApplication(create_backend_app), calls)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"

    sam = load_template()
    names = local_names("dep", sam)
    clients = {s: boto3.client(s, endpoint_url=endpoint, region_name=REGION) for s in ("dynamodb", "sqs", "events")}
    create_tables(clients["dynamodb"], names, sam)
    create_event_buses(clients["events"], names, sam)
    urls = create_queues(clients["sqs"], names, sam)
    vectors = boto3.client("s3vectors", endpoint_url=endpoint, region_name=REGION)
    create_vector_indexes(vectors, names, int(PARAMETERS["EmbeddingDimensions"]), sam)
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=REGION)
    for name, value in SECRETS.items():
        ssm.put_parameter(Name=name, Value=value, Type="SecureString")
    refs = {**names, **urls, **PARAMETERS, "ContextApi": API_ID}
    arns = {}
    for logical_id, name in names.items():
        kind = sam["Resources"][logical_id]["Type"]
        arns[logical_id] = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}",
            "AWS::S3Vectors::VectorBucket": f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{name}",
            "AWS::S3Vectors::Index": "",
        }[kind] or local_vector_index_arn(logical_id, names, sam)
    try:
        yield LocalAws(endpoint, refs, arns, calls)
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with local_aws_server() as aws:
        yield aws


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """Built in this run's own folder (the layer's dependencies come from the build cache, infra/package.py)."""
    target, python = host_target()
    return build(target, python, root=tmp_path_factory.mktemp("artifacts") / target.name)


@dataclass(frozen=True)
class DeployedCode:
    """What a template's `sam deploy` uploads: each function's code directory (Lambda's /var/task) and the layer's
    directory (extracted to /opt, so its python/ is on the path)."""

    functions: dict[str, Path]
    layer: Path

    @classmethod
    def of(cls, template_file: Path) -> "DeployedCode":
        """The local directories the template's CodeUri and ContentUri name, relative to it as SAM reads them."""
        resources = json.loads(template_file.read_text())["Resources"]
        functions = {
            logical_id: template_file.parent / resource["Properties"]["CodeUri"]
            for logical_id, resource in resources.items()
            if resource["Type"] == "AWS::Serverless::Function"
        }
        (layer,) = (
            template_file.parent / resource["Properties"]["ContentUri"]
            for resource in resources.values()
            if resource["Type"] == "AWS::Serverless::LayerVersion"
        )
        return cls(functions, layer)


@pytest.fixture(scope="session")
def lambda_runtime(artifacts: Artifacts) -> LambdaRuntime:
    return managed_runtime(artifacts)


def _resolve(value: Any, refs: dict[str, str], arns: dict[str, str]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return refs[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"GetAtt"} and value["GetAtt"].endswith("Arn"):
        return arns[value["GetAtt"].split(".")[0]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        names = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", **refs}
        return re.sub(r"\$\{([^}!]+)\}", lambda match: names[match.group(1)], value["Fn::Sub"])
    raise AssertionError(f"cannot resolve {value!r} for a local run")


def function_environment(logical_id: str, aws: LocalAws, runtime: LambdaRuntime, code: Path) -> dict[str, str]:
    """Exactly what Lambda sets for this function: the template's variables (resolved for the local resources),
    then the runtime's own; plus the endpoint of the local AWS and the function's own credentials."""
    sam = load_template()
    properties = sam["Resources"][logical_id]["Properties"]
    merged = {
        **sam["Globals"]["Function"].get("Environment", {}).get("Variables", {}),
        **properties.get("Environment", {}).get("Variables", {}),
    }
    environment = {name: _resolve(value, aws.refs, aws.arns) for name, value in merged.items()}
    globals_ = sam["Globals"]["Function"]
    environment |= {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": f"agentctx-{logical_id}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties.get("MemorySize", globals_.get("MemorySize", 128))),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/agentctx-{logical_id}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{globals_['Runtime']}",
        "LAMBDA_TASK_ROOT": str(code),
        "LAMBDA_RUNTIME_DIR": str(runtime.runtime_dir),
        "_HANDLER": properties["Handler"],
        "PATH": f"{runtime.python.parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_ACCESS_KEY_ID": f"FN{logical_id}",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_ENDPOINT_URL": aws.endpoint,  # the one addition: where the local AWS answers
    }
    return environment


class LambdaProcess:
    """One function's container: started once, then invoked with events one after another."""

    def __init__(
        self, logical_id: str, environment: dict[str, str], runtime: LambdaRuntime, layer: Path, timeout: int
    ) -> None:
        self.logical_id = logical_id
        self.process = subprocess.Popen(
            [str(runtime.python), "-I", str(RUNNER)],
            env={**environment, "LAYER_PYTHON": str(layer), "FUNCTION_TIMEOUT": str(timeout)},
            cwd=environment["LAMBDA_TASK_ROOT"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.init = self._answer()

    def _drain(self) -> None:
        assert self.process.stderr
        for line in self.process.stderr:
            self.stderr.append(line)

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(10)
            raise AssertionError(f"{self.logical_id} died:\n{''.join(self.stderr[-40:])}")
        return json.loads(line)

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        """The runner's answer: the handler's result or the error it raised, and the milliseconds it took."""
        assert self.process.stdin
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def invoke(self, event: dict[str, Any]) -> Any:
        """The handler's result; an error the handler raised fails the test with its trace and logs."""
        answer = self.send(event)
        if "error" in answer:
            raise AssertionError(f"{self.logical_id} raised {answer['error']}: {answer['trace']}")
        return answer["result"]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(10)


@dataclass
class Deployment:
    aws: LocalAws
    runtime: LambdaRuntime
    artifacts: Artifacts
    processes: dict[str, LambdaProcess] = field(default_factory=dict)

    @property
    def code(self) -> DeployedCode:
        return DeployedCode.of(self.artifacts.template)

    def environment(self, logical_id: str) -> dict[str, str]:
        return function_environment(logical_id, self.aws, self.runtime, self.code.functions[logical_id])

    def start(self, logical_ids: Iterable[str]) -> None:
        """Start these functions' containers side by side (each pays its own cold start)."""
        with ThreadPoolExecutor() as pool:
            list(pool.map(self.function, logical_ids))

    def function(self, logical_id: str) -> LambdaProcess:
        if logical_id not in self.processes:
            sam = load_template()
            timeout = sam["Resources"][logical_id]["Properties"].get("Timeout", sam["Globals"]["Function"]["Timeout"])
            self.processes[logical_id] = LambdaProcess(
                logical_id, self.environment(logical_id), self.runtime, self.code.layer / "python", timeout
            )
        return self.processes[logical_id]


@pytest.fixture(scope="session")
def deployment(local_aws: LocalAws, lambda_runtime: LambdaRuntime, artifacts: Artifacts) -> Iterator[Deployment]:
    deployed = Deployment(local_aws, lambda_runtime, artifacts)
    yield deployed
    with ThreadPoolExecutor() as pool:  # each ends on its own once its input closes: side by side
        list(pool.map(LambdaProcess.close, deployed.processes.values()))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Any, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s")
