#!/bin/bash
# Started by the Lambda Web Adapter's wrapper (/opt/bootstrap); it forwards each invocation to this server.
# Only Lambda's own Python bootstrap puts the layer on the path, so this child process is told where everything
# is: the function's code, the shared layer (/opt/python) and the runtime's boto3, as in the adapter's examples.
export PYTHONPATH="${LAMBDA_TASK_ROOT}:/opt/python:${LAMBDA_RUNTIME_DIR}"
exec python3 -m uvicorn --host 127.0.0.1 --port "${PORT:-8080}" --no-access-log app:app
