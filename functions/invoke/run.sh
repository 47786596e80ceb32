#!/bin/bash
# Started by the Lambda Web Adapter's wrapper (/opt/bootstrap); it forwards each invocation to this server.
exec python3 -m uvicorn --host 127.0.0.1 --port "${PORT:-8080}" --no-access-log app:app
