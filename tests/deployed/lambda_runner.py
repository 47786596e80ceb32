"""Runs one function from its built artifacts the way the Lambda Python runtime does; started by the tests.

It is started as `python -I lambda_runner.py` by an interpreter with nothing installed, so before the handler
loads, sys.path holds only the standard library, then what Lambda puts first: the function's code
(LAMBDA_TASK_ROOT), the layer (LAYER_PYTHON, /opt/python in Lambda) and the runtime's boto3 (LAMBDA_RUNTIME_DIR).
It reads one JSON event per stdin line and answers one JSON line: the handler's result or its error, and the time
the handler took. It imports nothing from the project.
"""

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any

sys.path[:0] = [os.environ["LAMBDA_TASK_ROOT"], os.environ["LAYER_PYTHON"], os.environ["LAMBDA_RUNTIME_DIR"]]
del os.environ["LAYER_PYTHON"]  # Lambda has no such variable; the handler must not see it
TIMEOUT_SECONDS = float(os.environ.pop("FUNCTION_TIMEOUT"))  # the template's Timeout, for the context object


class LambdaContext:
    def __init__(self) -> None:
        name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = f"arn:aws:lambda:{os.environ['AWS_REGION']}:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "2026/11/25/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + TIMEOUT_SECONDS

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _module_files() -> dict[str, str]:
    modules = list(sys.modules.items())
    return {
        name: module.__file__ for name, module in modules if name != "__main__" and getattr(module, "__file__", None)
    }


def main() -> None:
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the function's logs and metrics (stdout in Lambda) go to stderr, answers stay on their own
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    started = time.perf_counter()
    handler = getattr(importlib.import_module(module_name), function_name)
    ready = {"import_ms": (time.perf_counter() - started) * 1000, "sys_path": sys.path, "modules": _module_files()}
    answers.write(json.dumps(ready) + "\n")
    answers.flush()
    for line in sys.stdin:
        event, started = json.loads(line), time.perf_counter()
        try:
            answer: dict[str, Any] = {"result": _jsonable(handler(event, LambdaContext()))}
        except Exception as error:  # the runtime reports it as the invocation's error
            answer = {"error": type(error).__name__, "message": str(error), "trace": traceback.format_exc()}
        answer["ms"] = (time.perf_counter() - started) * 1000
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
