"""Lambda entry point for the operator's /v1/admin API and /v1/usage."""

from agentctx.api.lambda_entry import http_handler
from agentctx.api.routers import admin, usage

lambda_handler = http_handler(admin.router, usage.router)
