#!/bin/bash
# Started by the Lambda Web Adapter's wrapper (/opt/bootstrap); it forwards each invocation to this server.
# Only Lambda's own Python bootstrap puts the layer on the path, so this child process is told where everything
# is: the function's code, the shared layer (/opt/python) and the runtime's boto3, as in the adapter's examples.
export PYTHONPATH="${LAMBDA_TASK_ROOT}:/opt/python:${LAMBDA_RUNTIME_DIR}"
# Only what is used is loaded: the standard event loop and h11 (the layer has neither uvloop nor httptools, which
# uvicorn would otherwise look for), no websockets, no lifespan (the app has no startup work).
SERVER_OPTIONS="--no-access-log --loop asyncio --http h11 --ws none --lifespan off"
exec python3 -m uvicorn --host 127.0.0.1 --port "${PORT:-8080}" $SERVER_OPTIONS app:app
