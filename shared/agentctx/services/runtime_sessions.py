"""Agent-runtime sessions (`/v1/sessions`): sessions with an agent, a model and capabilities; create, read, list,
rename, fork, cancel and delete.

A runtime session is an ordinary session (its blocks are the same blocks `/v1/aip` shows) that also carries a
RuntimeConfig and a TurnState. Its messages (services/runtime_messages.py) start turns, which the turn function runs
(services/turns.py); its event log is read through services/event_query.py.
"""

from dataclasses import dataclass, replace

from agentctx import ids
from agentctx.domain import Agent, CapabilityRef, RuntimeConfig, Session, TurnState, utc_now
from agentctx.errors import InvalidRequest, NotFound
from agentctx.pagination import CursorCodec
from agentctx.schemas.runtime import RuntimeSessionCreate, RuntimeSessionUpdate
from agentctx.services.catalog import CatalogService, check_everruns_fields, initial_files, validate_capabilities
from agentctx.services.session_agent import agent_of, features_of, merge_capabilities
from agentctx.services.sessions import ForkFilter, SessionService
from agentctx.store.context_store import ContextStore


@dataclass
class RuntimeView:
    """A session as the runtime surface shows it, with what is computed at read time."""

    session: Session
    agent_id: str | None
    capabilities: list[CapabilityRef]
    features: list[str]


class RuntimeSessionService:
    def __init__(
        self,
        store: ContextStore,
        sessions: SessionService,
        catalog: CatalogService,
        cursors: CursorCodec,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.catalog = catalog
        self.cursors = cursors

    def create(self, tenant_id: str, request: RuntimeSessionCreate) -> RuntimeView:
        """Every reference is checked before anything is written: a bad one is a 400 naming the field. The agent's
        initial files, then the request's, become the session's files."""
        check_everruns_fields(request)
        agent = self._agent_for_request(tenant_id, request.agent_id, request.agent_name)
        override = self.catalog.resolve_model(tenant_id, request.model_id) if request.model_id else None
        model = override or self.catalog.get_model(tenant_id, agent.default_model_id)
        validate_capabilities(request.capabilities)  # unknown refs and configs that do not fit are refused
        capabilities = [CapabilityRef(cap.ref, cap.config) for cap in request.capabilities]
        files = {f["path"]: f["content"] for f in agent.initial_files + initial_files(request.initial_files)}
        now = utc_now()
        session = Session(
            tenant_id=tenant_id,
            hex=ids.new_hex(),
            name=request.title or "",
            default_agent=agent.slug,
            tags=request.tags,
            created_at=now,
            updated_at=now,
            runtime=RuntimeConfig(agent.id, override.id if override else None, capabilities, request.locale),
        )
        self.sessions.limits.apply(session, model.context_window)
        self.store.sessions.create(session, files=files)
        return self._view(session, {agent.id: agent})

    def get(self, tenant_id: str, session_id: str) -> RuntimeView:
        return self._view(self.sessions.load(tenant_id, session_id), {})

    def list_page(
        self,
        tenant_id: str,
        tags: list[str],
        limit: int,
        cursor: str | None,
        agent_id: str | None = None,
        search: str | None = None,
    ) -> tuple[list[RuntimeView], str | None]:
        """Sessions with every one of `tags`: listed from the first tag's index, filtered on the rest; with
        `agent_id`, that agent's only; with `search`, those whose title contains it (case-insensitive)."""
        wanted = set(tags)
        needle = (search or "").lower()
        query = f"runtime-sessions?tags={','.join(sorted(wanted))}&agent={agent_id or ''}&search={needle}"
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        views: list[RuntimeView] = []
        agents: dict[str, Agent | None] = {}
        while True:
            page = self.store.sessions.list_page(tenant_id, tags[0] if tags else None, limit - len(views), after)
            views += [
                view
                for view in (self._view(s, agents) for s in page.items if wanted <= set(s.tags))
                if (agent_id is None or view.agent_id == agent_id) and needle in view.session.name.lower()
            ]
            after = page.next_after
            if after is None or len(views) >= limit:
                break
        return views, self.cursors.encode(tenant_id, query, after) if after else None

    def update(self, tenant_id: str, session_id: str, request: RuntimeSessionUpdate) -> RuntimeView:
        session = self.sessions.load(tenant_id, session_id)
        changes = request.model_dump(exclude_unset=True)
        name = session.name if "title" not in changes else (request.title or "")
        tags = session.tags if request.tags is None else request.tags
        now = utc_now()
        self.store.sessions.update(session, name, tags, now)
        session.name, session.tags, session.updated_at = name, tags, now
        return self._view(session, {})

    def delete(self, tenant_id: str, session_id: str) -> None:
        self.sessions.delete(tenant_id, session_id)

    def fork(
        self, tenant_id: str, session_id: str, title: str | None = None, tags: list[str] | None = None
    ) -> RuntimeView:
        """A new session with the same agent, model, capabilities, title and tags (or the `title` and `tags` given),
        its blocks and its messages, recording the session it came from; its event log starts afresh. Refused (409)
        while a turn runs or waits, so the copy is of a settled state. As an AIP fork: usable at once, its messages
        and blocks read through its source until the background copy has them, so the request does the same work
        whatever the source's size."""
        source = self.sessions.load(tenant_id, session_id)
        keep_all = ForkFilter(None, None, include_pinned=True, include_summaries=True)
        runtime = (
            replace(source.runtime, forked_from=ids.RUNTIME_SESSION_PREFIX + source.hex) if source.runtime else None
        )
        view = self.sessions.fork_session(
            source,
            source.name if title is None else title,
            source.default_agent,
            source.tags if tags is None else tags,
            keep_all,
            runtime=runtime,
            # the source's previews go with the fork, so its response and later reads agree
            turns=TurnState(preview=source.turns.preview, output_preview=source.turns.output_preview),
        )
        return self._view(view.session, {})

    def cancel(self, tenant_id: str, session_id: str) -> RuntimeView:
        """Cancel the running turn and any queued behind it: every turn whose input came before this call. A turn
        stops at its next write to the event log, with `turn.cancelled`; an idle session is left as it is."""
        session = self.sessions.load(tenant_id, session_id)
        if session.busy:
            self.store.sessions.cancel_queued_turns(tenant_id, session.hex)
        return self._view(session, {})

    def _agent_for_request(self, tenant_id: str, agent_id: str | None, agent_name: str | None = None) -> Agent:
        if agent_id is None:
            try:
                return self.catalog.resolve_agent(tenant_id, agent_name or "")
            except NotFound:
                raise InvalidRequest(f"unknown agent_name {agent_name!r}") from None
        if ids.parse_prefixed_hex(agent_id, ids.AGENT_PREFIX) is None:
            raise InvalidRequest(f"agent_id {agent_id!r} is not an agent id (agent_ followed by 32 hex)")
        try:
            return self.catalog.get_agent(tenant_id, agent_id)
        except NotFound:
            raise InvalidRequest(f"unknown agent_id {agent_id!r}") from None

    def _view(self, session: Session, agents: dict[str, Agent | None]) -> RuntimeView:
        agent = agent_of(self.catalog, session, agents)
        own = session.runtime.capabilities if session.runtime else []
        effective = merge_capabilities(agent, own)
        agent_id = session.runtime.agent_id if session.runtime else (agent.id if agent else None)
        return RuntimeView(session, agent_id, own, features_of(effective))
