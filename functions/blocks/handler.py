"""Lambda entry point for /v1/aip/blocks and /v1/aip/sessions/{sessionId}/blocks."""

import os

from agentctx.api.lambda_entry import http_handler
from agentctx.api.routers import blocks

lambda_handler = http_handler(blocks.router)

if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # SnapStart: the tokenizer goes in the snapshot
    from agentctx.settings import get_settings
    from agentctx.tokens import get_encoding

    get_encoding(get_settings().tokenizer_encoding)
