"""Invocations requested by other AWS services through a queue (directly, or routed there by EventBridge).

A request names its tenant (whoever may send to the queue may act for any tenant: the queue's policy is the
trust boundary), optionally blocks to append to the session first, and the invocation. It runs without
streaming and its result is published to the event bus as `Invocation Result` with the request's correlation id.
Each message runs once, keyed on its message or event id: the block append and the invocation are each recorded
as done, so a retry after a passing failure does not append twice. Requests that cannot succeed (bad input, an
unknown agent or session) are answered with a failed result and not retried; passing failures raise, so the queue
retries them and, after three attempts, moves them to its dead-letter queue.
"""

import hashlib
import json
from typing import Annotated, Any

from pydantic import Field, ValidationError

from agentctx.errors import DomainError, Throttled, UpstreamFailed
from agentctx.idempotency import once
from agentctx.schemas.base import RequestModel
from agentctx.schemas.blocks import BlockIn
from agentctx.schemas.invoke import InvokeRequest
from agentctx.services.blocks import BlockService
from agentctx.services.invocations import InvocationService, command_from
from agentctx.store.event_bus import EventBus
from agentctx.store.stream_events import DomainEvent

RESULT_TYPE = "Invocation Result"


class TriggerRequest(RequestModel):
    tenant_id: Annotated[str, Field(pattern=r"^org_[0-9a-f]{32}$")]
    correlation_id: Annotated[str, Field(max_length=256)] | None = None
    blocks: Annotated[list[BlockIn], Field(max_length=100)] = []
    invoke: InvokeRequest


class TriggerService:
    def __init__(self, blocks: BlockService, invocations: InvocationService, bus: EventBus) -> None:
        self.blocks = blocks
        self.invocations = invocations
        self.bus = bus

    def handle(self, message_id: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        try:
            request = TriggerRequest.model_validate(body)
        except ValidationError as invalid:
            return self._answer(
                message_id,
                None,
                body.get("correlationId"),
                {"status": "failed", "error": {"code": "validation_error", "message": str(invalid.errors()[:3])}},
            )
        tenant = request.tenant_id
        try:
            if request.blocks and request.invoke.session:
                session = request.invoke.session
                once(
                    f"trigger|{message_id}|blocks",
                    payload,
                    lambda: {"blockIds": [block.id for block in self.blocks.append(tenant, session, request.blocks)]},
                )
            result = once(f"trigger|{message_id}|invoke", payload, lambda: self._invoke(tenant, request))
        except (Throttled, UpstreamFailed):
            raise
        except DomainError as refused:
            result = {"status": "failed", "error": {"code": type(refused).__name__, "message": refused.message}}
        return self._answer(message_id, tenant, request.correlation_id, result)

    def _invoke(self, tenant: str, request: TriggerRequest) -> dict[str, Any]:
        prepared = self.invocations.prepare(tenant, command_from(request.invoke))
        return self.invocations.invoke(prepared)

    def _answer(self, message_id: str, tenant: str | None, correlation_id: str | None, result: dict) -> dict:
        event_id = "evt_" + hashlib.sha256(f"trigger|{message_id}".encode()).hexdigest()[:32]
        data = {"correlationId": correlation_id, "requestId": message_id} | result
        self.bus.publish([DomainEvent(event_id, RESULT_TYPE, tenant or "", result.get("completedAt", ""), data)])
        return data
