"""The agent-runtime session surface: sessions with an agent, a model and capabilities, messages that start
turns, and the session's event log.

A runtime session is an ordinary session (its blocks are the same blocks `/v1/aip` shows) that also carries a
RuntimeConfig and a TurnState. Posting a message records it (a message, a conversation block and an
`input.message` event, one transaction) and queues a turn on the FIFO turn queue, grouped by session; the turn
function (services/turns.py) runs it.
"""

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from agentctx import ids, metering
from agentctx.capabilities import CATALOGUE
from agentctx.domain import Agent, BlockType, CapabilityRef, RuntimeConfig, Session, TurnState, utc_now
from agentctx.errors import Conflict, InvalidRequest, NotFound
from agentctx.observability import logger
from agentctx.pagination import CursorCodec
from agentctx.schemas import BlockIn
from agentctx.schemas.runtime import MessageCreate, RuntimeSessionCreate, RuntimeSessionUpdate
from agentctx.services.blocks import BlockService
from agentctx.services.catalog import CatalogService, check_everruns_fields, initial_files, validate_capabilities
from agentctx.services.sessions import ForkFilter, SessionService
from agentctx.store.context_store import ContextStore
from agentctx.store.event_log import SessionChanges, SessionMoved
from agentctx.turn_jobs import TurnJob

PREVIEW_CHARS = 200
# Events read per query while following a log (a DynamoDB page holds at most 1 MB anyway).
FOLLOW_PAGE = 1000
# How long a writer keeps re-reading the session when other writers appended events first, with a short random
# backoff between attempts: a burst of writers to one session settles instead of colliding again at once.
APPEND_SECONDS = 10.0


def append_attempts() -> Iterator[int]:
    """Attempt numbers, for APPEND_SECONDS."""
    deadline = time.monotonic() + APPEND_SECONDS
    attempt = 0
    while attempt == 0 or time.monotonic() < deadline:
        yield attempt
        attempt += 1


def backoff(attempt: int) -> None:
    """Sleep before the next attempt: random, growing with the attempts, at most about 50 ms."""
    time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))


def merge_capabilities(agent: Agent | None, session: list[CapabilityRef]) -> list[CapabilityRef]:
    """The agent's capabilities first, then the session's; a ref both name keeps the agent's place and takes the
    session's config over the agent's, key by key, for this session only. Configs are validated with defaults."""
    merged: dict[str, dict[str, Any]] = {cap.ref: dict(cap.config) for cap in (agent.capabilities if agent else [])}
    for cap in session:
        merged[cap.ref] = {**merged.get(cap.ref, {}), **cap.config}
    return [CapabilityRef(ref, CATALOGUE[ref].validate_config(config)) for ref, config in merged.items()]


def features_of(capabilities: list[CapabilityRef]) -> list[str]:
    return list(dict.fromkeys(feature for cap in capabilities for feature in CATALOGUE[cap.ref].features))


def text_of(content: list[dict[str, Any]]) -> str:
    return "\n".join(part["text"] for part in content if part.get("type") == "text")


def preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


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
        blocks: BlockService,
        catalog: CatalogService,
        cursors: CursorCodec,
        dispatch_turn: Callable[[TurnJob], None] | None,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.blocks = blocks
        self.catalog = catalog
        self.cursors = cursors
        # None where no turn queue is configured: messages are then refused
        self.dispatch_turn = dispatch_turn

    # ----- sessions -----

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

    # ----- messages and events -----

    def post_message(self, tenant_id: str, session_id: str, request: MessageCreate) -> dict[str, Any]:
        """Record the input message as the session's next turn, then dispatch that turn.

        The message, its block, its `input.message` event and its turn item commit in one transaction, conditioned
        on the event sequence last read; the same read gives the turn its number (`turnsQueued` + 1) and its order
        key (after the last input's), so numbers and keys follow commit order, whatever the clocks or the queue.
        Only then is the turn dispatched; the table's stream dispatches it again from the committed turn item, so a
        crash between the commit and the send loses nothing (services/turns.py runs turns by number)."""
        session = self.sessions.load(tenant_id, session_id)
        if self.dispatch_turn is None:
            raise Conflict("turns are not configured here (no TURN_QUEUE_URL)")
        if self.agent_of(session, {}) is None:
            raise Conflict(f"session {session_id} has no agent to run a turn: its agent does not exist")
        now = utc_now()
        content = [part.model_dump() for part in request.message.content]
        block = self.blocks.build(
            session.hex,
            BlockIn(type=BlockType.CONVERSATION, content=[{"role": "user", "content": text_of(content)}]),
            now,
        )
        block.tags = request.tags
        turn_id = ids.TURN_PREFIX + ids.new_hex()
        message_id = ids.MESSAGE_PREFIX + ids.new_hex()
        context = {"turn_id": turn_id, "input_message_id": message_id}
        for attempt in append_attempts():
            turn_seq = session.turns.queued + 1
            block.order_key = ids.order_key_after(session.turns.last_input_key)
            message = {
                "id": message_id,
                "session_id": ids.RUNTIME_SESSION_PREFIX + session.hex,
                "role": "user",
                "content": content,
                "metadata": request.metadata,
                "tags": request.tags,
                "controls": request.controls.model_dump(exclude_none=True) if request.controls else None,
                "external_actor": (
                    request.external_actor.model_dump(exclude_none=True) if request.external_actor else None
                ),
                "turn_id": turn_id,
                "block_id": block.id,
                "order_key": block.order_key,
                "created_at": now,
            }
            changes = SessionChanges(set={"turnsQueued": turn_seq, "lastInputKey": block.order_key})
            if session.turns.preview is None:
                changes.set["preview"] = preview(text_of(content))
            event = {"type": "input.message", "context": context, "data": {"message": public_message(message)}}
            entry = {"turnSeq": turn_seq, "orderKey": block.order_key, "turnId": turn_id, "messageId": message_id}
            try:
                self.store.events.append(
                    tenant_id,
                    session.hex,
                    session.turns.event_seq,
                    [event],
                    now,
                    changes,
                    blocks=[block],
                    messages=[message],
                    turn_entry=entry,
                )
                break
            except SessionMoved:
                session.turns = self._reload(session).turns
                backoff(attempt)
        else:
            raise Conflict("the session's event log is too busy; try again")
        metering.add(storedTokens=block.token_count)
        try:
            self.dispatch_turn(TurnJob(tenant_id, session.hex, turn_seq))
        except Exception:  # committed: the stream dispatches it from the turn item
            logger.exception("turn dispatch failed after commit", extra={"turn_id": turn_id})
        return message

    def append(
        self,
        session: Session,
        events: list[dict[str, Any]],
        now: str,
        changes: SessionChanges | None = None,
        **writes: Any,
    ) -> list[dict[str, Any]]:
        """Append to the event log from the sequence last read, reading it again when another writer was first."""
        for attempt in append_attempts():
            try:
                stamped = self.store.events.append(
                    session.tenant_id, session.hex, session.turns.event_seq, events, now, changes, **writes
                )
                session.turns.event_seq += len(stamped)
                return stamped
            except SessionMoved:
                session.turns = self._reload(session).turns
                backoff(attempt)
        raise Conflict("the session's event log is too busy; try again")

    def _reload(self, session: Session) -> Session:
        fresh = self.store.sessions.get(session.tenant_id, session.hex)
        if fresh is None:
            raise NotFound(f"session {session.id} not found")
        return fresh

    def events(self, tenant_id: str, session_id: str, since_id: str | None, limit: int) -> tuple[list[dict], bool]:
        session = self.sessions.load(tenant_id, session_id)
        return self.store.events.read(tenant_id, session.hex, self._since(session, since_id), limit)

    def follow(
        self,
        tenant_id: str,
        session_id: str,
        since_id: str | None,
        heartbeat_seconds: float,
        max_seconds: float,
        poll_seconds: float,
    ) -> Iterator[dict[str, Any] | None]:
        """Events as they are appended, from after `since_id`; None where a heartbeat is due. The session and the
        cursor are checked before the first item, so a bad request fails before a stream starts."""
        session = self.sessions.load(tenant_id, session_id)
        after = self._since(session, since_id)
        return self._follow(session, after, heartbeat_seconds, max_seconds, poll_seconds)

    def _follow(
        self, session: Session, after: int, heartbeat_seconds: float, max_seconds: float, poll_seconds: float
    ) -> Iterator[dict[str, Any] | None]:
        started = last_sent = time.monotonic()
        while time.monotonic() - started < max_seconds:
            events, more = self.store.events.read(session.tenant_id, session.hex, after, FOLLOW_PAGE)
            for event in events:
                yield event
                after = event["sequence"]
            now = time.monotonic()
            if events:
                last_sent = now
            elif now - last_sent >= heartbeat_seconds:
                yield None
                last_sent = now
            if not more:
                time.sleep(poll_seconds)

    def messages(
        self, tenant_id: str, session_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        session = self.sessions.load(tenant_id, session_id)
        query = f"messages?session={session.hex}"
        after = self.cursors.decode(tenant_id, query, cursor) if cursor else None
        page = self.store.records.list_messages(session, limit, after)
        next_cursor = self.cursors.encode(tenant_id, query, page.next_after) if page.next_after else None
        return [public_message(message) for message in page.items], next_cursor

    # ----- helpers -----

    @staticmethod
    def _since(session: Session, since_id: str | None) -> int:
        if not since_id:
            return 0
        sequence = ids.parse_event_id(since_id, session.hex)
        if sequence is None:
            raise InvalidRequest(f"since_id {since_id!r} is not an event of session {session.id}")
        return sequence

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

    def agent_of(self, session: Session, cache: dict[str, Agent | None]) -> Agent | None:
        """The session's agent (a runtime session's own, else the AIP default agent), or None when it is gone."""
        reference = session.runtime.agent_id if session.runtime else session.default_agent
        if reference is None:
            return None
        if reference not in cache:
            try:
                cache[reference] = self.catalog.resolve_agent(session.tenant_id, reference)
            except NotFound:
                cache[reference] = None
        return cache[reference]

    def _view(self, session: Session, agents: dict[str, Agent | None]) -> RuntimeView:
        agent = self.agent_of(session, agents)
        own = session.runtime.capabilities if session.runtime else []
        effective = merge_capabilities(agent, own)
        agent_id = session.runtime.agent_id if session.runtime else (agent.id if agent else None)
        return RuntimeView(session, agent_id, own, features_of(effective))


def public_message(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message without its storage keys."""
    return {key: value for key, value in message.items() if key not in ("order_key", "block_id")}
