"""Lambda entry point for /v1/aip/sessions and /health."""

from agentctx.api.lambda_entry import http_handler
from agentctx.api.routers import health, sessions

lambda_handler = http_handler(health.router, sessions.router)
