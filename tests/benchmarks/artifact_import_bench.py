"""Cold import of every function from the built artifacts (`make package`'s builder, for this machine's
architecture), each in a fresh bare interpreter that sees only the function's code, the layer and the runtime's
boto3, as Lambda does; beside `import boto3` in the same interpreter. Median of 5.

Targets (issue 12): HTTP functions at most 3x `import boto3`, queue and stream functions at most 1.5x.
"""

import os
import statistics
import subprocess
from pathlib import Path

from infra.package import Artifacts, build, host_target
from infra.template import load_template
from tests.deployed.runtime import LambdaRuntime, managed_runtime

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
    if handler.endswith(".sh"):
        return "uvicorn, app"  # run.sh: python3 -m uvicorn ... app:app
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


def artifact_import_times() -> list[str]:
    artifacts = build(*host_target())
    runtime = managed_runtime(artifacts)
    lines = [
        f"Built for {artifacts.root.name} (.pyc precompiled); interpreter {os.path.basename(artifacts.python)}.\n",
        "| function | kind | median of 5 (ms) | × import boto3 | target |",
        "|---|---|---|---|---|",
    ]
    for name, kind, ms, ratio in measure(artifacts, runtime):
        target = {"http": f"≤ {HTTP_TARGET}", "authorizer": f"≤ {HTTP_TARGET}", "queue/stream": f"≤ {QUEUE_TARGET}"}
        limit = target.get(kind, "")
        met = "" if not limit else (" ✓" if ratio <= float(limit.split()[-1]) else " ✗")
        lines.append(f"| {name} | {kind} | {ms:.0f} | {ratio:.2f} | {limit}{met} |")
    return lines


if __name__ == "__main__":
    print("\n".join(artifact_import_times()))
