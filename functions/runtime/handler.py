"""Lambda entry point for /v1/sessions (the agent-runtime surface, but its event stream) and /v1/capabilities."""

from agentctx.api.lambda_entry import http_handler
from agentctx.api.routers import runtime

lambda_handler = http_handler(runtime.router)
