"""The invoke function's app, which run.sh serves with uvicorn behind the Lambda Web Adapter in response-stream mode;
what it serves is its line in agentctx.api.registry."""

from agentctx.api.app import function_app

app = function_app("InvokeFunction")
