"""Invocation: `POST /v1/aip/invoke` (seed 001), the AIP 0.1.0 `/.well-known/aip/*` endpoints, the AIP agent
list, and a session's invocation records. With `stream: true` the answer is Server-Sent Events."""

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from agentctx.api.deps import Tenant
from agentctx.api.envelope import list_meta, request_id
from agentctx.api.openapi import ERROR_RESPONSES, SSE_EVENT_SCHEMA
from agentctx.api.streaming import in_background
from agentctx.domain import BlockType
from agentctx.schemas.base import Envelope, ListEnvelope, Meta
from agentctx.schemas.invoke import (
    AipAgentSummary,
    AipContextRequirements,
    AipInvokeRequest,
    AipManifest,
    AipModelOut,
    AipToolOut,
    InvocationRecord,
    InvokeRequest,
    InvokeResult,
)
from agentctx.services.agent_loop import InvokeCommand, StreamEvent
from agentctx.services.context import Selection
from agentctx.services.invocations import command_from
from agentctx.settings import get_settings
from agentctx.wiring import catalog_service, invocation_service, quota_guard

router = APIRouter(tags=["invoke"], responses=ERROR_RESPONSES)

STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The invocation's result, or with stream: true its Server-Sent Events",
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    },
    502: ERROR_RESPONSES[400] | {"description": "The model provider failed"},
}
AgentHeader = Annotated[
    str,
    Header(
        alias="X-AIP-Agent", min_length=1, max_length=128, description="Agent slug or id", examples=["code-assistant"]
    ),
]


def sse(events: Iterator[StreamEvent]) -> Iterator[str]:
    for event in events:
        yield f"event: {event.name}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


def _respond(request: Request, tenant: str, command: InvokeCommand, stream: bool) -> Any:
    if command.session_id and command.save_to_session:
        quota_guard().check_storage(tenant)
    service = invocation_service()
    prepared = service.prepare(tenant, command)
    quota_guard().hold_tokens(tenant, prepared.call_estimate)
    if stream:
        return StreamingResponse(
            in_background(sse(service.run(prepared)), get_settings().sse_heartbeat_seconds, drain=True),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Invocation-Id": prepared.id},
        )
    result = service.invoke(prepared)
    return Envelope(data=InvokeResult.model_validate(result), meta=Meta(request_id=request_id(request)))


@router.post("/v1/aip/invoke", response_model=Envelope[InvokeResult], responses=STREAM_RESPONSES)
def invoke(request: Request, body: InvokeRequest, tenant: Tenant) -> Any:
    return _respond(request, tenant, command_from(body), body.stream)


@router.post("/.well-known/aip/invoke", response_model=Envelope[InvokeResult], responses=STREAM_RESPONSES)
def aip_invoke(request: Request, body: AipInvokeRequest, tenant: Tenant, agent: AgentHeader) -> Any:
    """The AIP 0.1.0 body mapped onto the same invocation; attachments are appended to the prompt as text."""
    prompt = body.prompt.content
    for index, attachment in enumerate(body.prompt.attachments, start=1):
        name = attachment.get("name") or f"attachment {index}"
        text = attachment.get("content") or attachment.get("text") or json.dumps(attachment, ensure_ascii=False)
        prompt += f"\n\n[{name}]\n{text}"
    command = InvokeCommand(
        agent=agent,
        prompt=prompt,
        session_id=body.context.session_id,
        selection=Selection(
            include_by_tag=body.context.include_by_tag,
            exclude_by_tag=body.context.exclude_by_tag,
            max_tokens=body.context.max_tokens,
        ),
        save_to_session=body.options.save_to_session,
    )
    return _respond(request, tenant, command, body.options.stream)


@router.get("/.well-known/aip/agent", response_model=AipManifest)
def aip_manifest(tenant: Tenant, agent: AgentHeader) -> AipManifest:
    catalog = catalog_service()
    found = catalog.resolve_agent(tenant, agent)
    model = catalog.get_model(tenant, found.default_model_id)
    prepared_tools = [
        AipToolOut(name=spec.name, description=spec.description, input_schema=spec.input_schema)
        for spec in invocation_service().prepare(tenant, InvokeCommand(agent=found.id, prompt="-")).specs
    ]
    return AipManifest(
        aip_version="0.1.0",
        name=found.name,
        slug=found.slug,
        description=found.description,
        capabilities=[capability.ref for capability in found.capabilities],
        context_requirements=AipContextRequirements(
            max_tokens=model.context_window, supported_block_types=[block_type.value for block_type in BlockType]
        ),
        tools=prepared_tools,
        models=[
            AipModelOut(
                id=model.id,
                provider=model.provider.value,
                provider_model_id=model.provider_model_id,
                context_window=model.context_window,
            )
        ],
        invoke="/.well-known/aip/invoke",
    )


@router.get("/v1/aip/agents", response_model=ListEnvelope[AipAgentSummary])
def list_aip_agents(
    request: Request,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ListEnvelope[AipAgentSummary]:
    listed = catalog_service().list_agents(tenant, limit, cursor)
    return ListEnvelope(
        data=[
            AipAgentSummary(
                id=agent.id,
                slug=agent.slug,
                name=agent.name,
                description=agent.description,
                model=agent.default_model_id,
                capabilities=[capability.ref for capability in agent.capabilities],
            )
            for agent in listed.items
        ],
        meta=list_meta(request, listed),
    )


@router.get("/v1/aip/sessions/{sessionId}/invocations", response_model=ListEnvelope[InvocationRecord])
def list_invocations(
    request: Request,
    sessionId: str,  # noqa: N803
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ListEnvelope[InvocationRecord]:
    listed = invocation_service().list_page(tenant, sessionId, limit, cursor)
    return ListEnvelope(
        data=[InvocationRecord.model_validate(record) for record in listed.items], meta=list_meta(request, listed)
    )


@router.get("/v1/aip/sessions/{sessionId}/invocations/{invocationId}", response_model=Envelope[InvocationRecord])
def get_invocation(request: Request, sessionId: str, invocationId: str, tenant: Tenant) -> Envelope[InvocationRecord]:  # noqa: N803
    record = invocation_service().get(tenant, sessionId, invocationId)
    return Envelope(data=InvocationRecord.model_validate(record), meta=Meta(request_id=request_id(request)))
