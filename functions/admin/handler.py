"""Lambda entry point for the operator's /v1/admin API."""

from agentctx.api.lambda_entry import http_handler
from agentctx.api.routers import admin

lambda_handler = http_handler(admin.router)
