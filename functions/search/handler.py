"""Lambda entry point of the search function; what it serves is its line in agentctx.api.registry."""

from agentctx.api.lambda_entry import http_handler

lambda_handler = http_handler("SearchFunction")
