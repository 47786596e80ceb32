"""Lambda entry point for /v1/sessions (the agent-runtime surface, but its event stream) and /v1/capabilities."""

import os

from agentctx.api.lambda_entry import http_handler
from agentctx.api.routers import capabilities, channels, runtime_events, runtime_messages, runtime_sessions

lambda_handler = http_handler(
    runtime_sessions.router, runtime_messages.router, runtime_events.router, capabilities.router, channels.router
)

if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # SnapStart: the tokenizer goes in the snapshot
    from agentctx.settings import get_settings
    from agentctx.tokens import get_encoding

    get_encoding(get_settings().tokenizer_encoding)
