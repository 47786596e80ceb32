"""Lambda entry point for /v1/models and /v1/agents."""

from agentctx.api.lambda_entry import http_handler
from agentctx.api.routers import catalog

lambda_handler = http_handler(catalog.router)
