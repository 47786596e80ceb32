"""An agent-runtime session's messages: `POST /v1/sessions/{session_id}/messages` records an input message and
queues its turn; `GET` lists them."""

from fastapi import APIRouter

from agentctx.api.deps import Tenant
from agentctx.api.list_params import Cursor, Limit, PageToken
from agentctx.api.openapi import ERROR_RESPONSES
from agentctx.errors import InvalidRequest
from agentctx.schemas.catalog import SnakeList
from agentctx.schemas.runtime import MessageCreate, MessageOut
from agentctx.wiring import catalog_service, quota_guard, runtime_message_service

router = APIRouter(tags=["agent sessions"], responses=ERROR_RESPONSES)


@router.post("/v1/sessions/{session_id}/messages", status_code=201, response_model=MessageOut)
def post_message(session_id: str, body: MessageCreate, tenant: Tenant) -> MessageOut:
    """Record the input message and queue its turn; refused (429) once the tenant's token quota is spent.
    `controls` apply to this message's turn: `model_id` (checked here), `max_tokens` (up to the model's
    max_output_tokens), `temperature`."""
    quota_guard().check_tokens(tenant)
    quota_guard().check_storage(tenant)
    if body.controls and body.controls.model_id:
        try:
            body.controls.model_id = catalog_service().resolve_model(tenant, body.controls.model_id).id
        except InvalidRequest as error:
            raise InvalidRequest(f"controls.{error.message}") from None
    message = runtime_message_service().post_message(tenant, session_id, body)
    return MessageOut.model_validate(message)


@router.get("/v1/sessions/{session_id}/messages", response_model=SnakeList[MessageOut])
def list_messages(
    session_id: str, tenant: Tenant, limit: Limit = 50, cursor: Cursor = None, page_token: PageToken = None
) -> SnakeList[MessageOut]:
    listed = runtime_message_service().messages(tenant, session_id, limit, cursor or page_token)
    return SnakeList(
        data=[MessageOut.model_validate(m) for m in listed.items],
        has_more=listed.next_cursor is not None,
        next_cursor=listed.next_cursor,
        truncated_by_bytes=listed.truncated_by_bytes,
        limit=limit,
    )
