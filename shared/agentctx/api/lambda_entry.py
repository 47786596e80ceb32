"""The fixed recipe every HTTP function's entry point follows: observability, the Mangum adapter, one call."""

import os
from collections.abc import Callable
from importlib import import_module
from typing import Any

from mangum import Mangum

from agentctx.api import registry
from agentctx.api.app import function_app
from agentctx.observability import logger, metrics


def _load_tokenizer() -> None:
    from agentctx.settings import get_settings
    from agentctx.tokens import get_encoding

    get_encoding(get_settings().tokenizer_encoding)


def http_handler(logical_id: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler serving this function's routers (agentctx.api.registry) behind API Gateway (REST API proxy
    events)."""
    function = registry.function(logical_id)
    assert not function.streams, "a streaming function's app runs under uvicorn: functions/<folder>/app.py"
    adapter = Mangum(function_app(logical_id), lifespan="off")
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # what is loaded now is in the snapshot
        if function.preloads_tokenizer:
            _load_tokenizer()
        for module in function.preloads:
            import_module(module)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        tenant_id = ((event.get("requestContext") or {}).get("authorizer") or {}).get("tenantId")
        if tenant_id:
            logger.thread_safe_append_keys(tenant_id=tenant_id)
        metrics.add_metric(name="ApiRequests", unit="Count", value=1)
        return adapter(event, context)

    return lambda_handler
