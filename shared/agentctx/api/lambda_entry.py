"""The fixed recipe every HTTP function's entry point follows: observability, the Mangum adapter, one call."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from mangum import Mangum

from agentctx.api.app import create_app
from agentctx.observability import logger, metrics


def http_handler(*routers: APIRouter) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler serving these routers behind API Gateway (REST API proxy events)."""
    adapter = Mangum(create_app(*routers), lifespan="off")

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        tenant_id = ((event.get("requestContext") or {}).get("authorizer") or {}).get("tenantId")
        if tenant_id:
            logger.append_keys(tenant_id=tenant_id)
        metrics.add_metric(name="ApiRequests", unit="Count", value=1)
        return adapter(event, context)

    return lambda_handler
