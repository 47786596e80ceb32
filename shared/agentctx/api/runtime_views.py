"""Maps an agent-runtime session to its response model: the Session object of `/v1/sessions` and the channels."""

from agentctx.schemas.catalog import CapabilityRefOut
from agentctx.schemas.runtime import RuntimeSessionOut, SessionUsage
from agentctx.services.catalog import HARNESS_ID
from agentctx.services.runtime_sessions import RuntimeView
from agentctx.services.token_usage import cost_usd


def session_out(view: RuntimeView) -> RuntimeSessionOut:
    session, turns = view.session, view.session.turns
    used = turns.input_tokens + turns.output_tokens
    return RuntimeSessionOut(
        id=f"session_{session.hex}",
        organization_id=session.tenant_id,
        agent_id=view.agent_id,
        title=session.name or None,
        tags=session.tags,
        model_id=session.runtime.model_id if session.runtime else None,
        capabilities=[CapabilityRefOut(ref=cap.ref, config=cap.config) for cap in view.capabilities],
        status=turns.status,
        features=view.features,
        preview=turns.preview,
        output_preview=turns.output_preview,
        usage=SessionUsage(
            input_tokens=turns.input_tokens,
            output_tokens=turns.output_tokens,
            total_tokens=used,
            cache_read_tokens=turns.cache_read_tokens,
            cache_creation_tokens=turns.cache_write_tokens,
            estimated_cost_usd=cost_usd(turns.cost_micro_usd),
        )
        if turns.done
        else None,
        created_at=session.created_at,
        updated_at=session.updated_at,
        started_at=turns.started_at,
        finished_at=turns.finished_at,
        harness_id=HARNESS_ID,
        locale=session.runtime.locale if session.runtime else None,
        forked_from_session_id=session.runtime.forked_from if session.runtime else None,
    )
