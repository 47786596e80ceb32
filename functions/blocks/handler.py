"""Lambda entry point for /v1/aip/blocks and /v1/aip/sessions/{sessionId}/blocks."""

from agentctx.api.lambda_entry import http_handler
from agentctx.api.routers import blocks

lambda_handler = http_handler(blocks.router)
