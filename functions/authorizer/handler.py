"""API Gateway Lambda authorizer: maps the API key (X-API-Key, Authorization: Bearer, or bare) to its tenant.

An unknown or revoked key raises "Unauthorized", which API Gateway answers with 401; a known one is allowed with
the tenant id in the authorizer context, which the functions read instead of looking the key up again.
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)

from agentctx.errors import Unauthorized
from agentctx.observability import logger
from agentctx.services.tenants import api_key_from
from agentctx.wiring import tenant_service


@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def lambda_handler(event: APIGatewayAuthorizerRequestEvent, context: Any) -> dict[str, Any]:
    headers = event.headers
    key = api_key_from(headers.get("x-api-key"), headers.get("authorization"))
    try:
        tenant_id = tenant_service().authenticate(key)
    except Unauthorized as error:
        logger.info("request refused", extra={"reason": error.message})
        raise Exception("Unauthorized") from error  # the exact text API Gateway turns into a 401
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=tenant_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"tenantId": tenant_id},
    )
    policy.allow_all_routes()
    return policy.asdict()
