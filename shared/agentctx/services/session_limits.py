"""How big a session may get: its default agent's model's context window, and when automatic compaction starts."""

from agentctx import ids
from agentctx.domain import Session
from agentctx.store.catalog_store import CatalogStore


class SessionLimits:
    """A session's `maxTokens` and automatic-compaction headroom, from its default agent's model.

    - An agent named by id or slug, whose model exists, gives its model's context window.
    - Anything else (no agent, an unknown one, a model gone) gives the configured default.
    """

    def __init__(self, catalog: CatalogStore, default_max_tokens: int, auto_compaction_share: float) -> None:
        self.catalog = catalog
        self.default_max_tokens = default_max_tokens
        self.auto_compaction_share = auto_compaction_share

    def max_tokens_for(self, tenant_id: str, default_agent: str | None) -> int:
        if not default_agent:
            return self.default_max_tokens
        agent_hex = ids.parse_prefixed_hex(default_agent, ids.AGENT_PREFIX) or self.catalog.agent_hex_for_slug(
            tenant_id, default_agent
        )
        agent = self.catalog.get_agent(tenant_id, agent_hex) if agent_hex else None
        model_hex = ids.parse_prefixed_hex(agent.default_model_id, ids.MODEL_PREFIX) if agent else None
        model = self.catalog.get_model(tenant_id, model_hex) if model_hex else None
        return model.context_window if model else self.default_max_tokens

    def apply(self, session: Session, context_window: int | None = None) -> None:
        """Size the session for its agent's model; a caller that has the model already gives its window."""
        session.max_tokens = context_window or self.max_tokens_for(session.tenant_id, session.default_agent)
        session.auto_headroom = int(session.max_tokens * self.auto_compaction_share) - session.total_tokens
