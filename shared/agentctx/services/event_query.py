"""Reading a session's event log: a page of it, or its events as they are appended (the SSE stream).

Pages are queried the way Everruns defines them (`GET /v1/sessions/{id}/events`): a sequence range (`since_id`,
`after_sequence`, `before_sequence`), type filters (`types` narrows, then `exclude` removes), `turn_id`,
`order_desc`, and `limit`.

`limit` alone means the newest N events (oldest first), what the SDK's backward pagination expects; with a forward
cursor (`since_id` or `after_sequence`) it means the first N after it, so forward paging keeps working. Without a
limit every event in range is returned, up to EVENTS_CEILING. A page also ends before the event that would take it
past the response's byte budget (agentctx.payload).

`next_since_id` (the answer's `next_cursor`) is given exactly when an oldest-first page has more after it; a
newest-first answer (`limit` alone, or `order_desc`) has none, since its older events are reached with
`before_sequence`, not with a since_id.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentctx import ids, payload
from agentctx.domain import Session
from agentctx.errors import InvalidRequest
from agentctx.services.sessions import SessionService
from agentctx.store.context_store import ContextStore

# The most events one answer holds when no limit is given (the byte budget may end it sooner); page on with
# since_id or after_sequence.
EVENTS_CEILING = 1000
MAX_TYPE_FILTERS = 25
# Events read per query while following a log (a DynamoDB page holds at most 1 MB anyway).
FOLLOW_PAGE = 1000

# The types we write, and the other types of Everruns' event catalogue, which a client may filter on (the SDK's
# `exclude_deltas` names reason.thinking.delta); any other name is refused, as Everruns refuses it.
WRITTEN_EVENT_TYPES = frozenset(
    {
        "input.message",
        "session.activated",
        "turn.started",
        "output.message.started",
        "output.message.delta",
        "output.message.completed",
        "tool.started",
        "tool.completed",
        "turn.completed",
        "turn.failed",
        "turn.cancelled",
        "session.idled",
    }
)
KNOWN_EVENT_TYPES = WRITTEN_EVENT_TYPES | {
    "session.started",
    "output.message.replaced",
    "reason.started",
    "reason.completed",
    "reason.recovered",
    "reason.thinking.started",
    "reason.thinking.delta",
    "reason.thinking.completed",
    "act.started",
    "act.completed",
    "tool.call_requested",
    "tool.call_repaired",
    "tool.output.delta",
    "tool.progress",
    "turn.sealed",
    "context.compacting",
    "context.compacted",
    "file.written",
    "llm.generation",
    "transcript.repaired",
}


@dataclass
class EventFilter:
    types: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    turn_id: str | None = None

    def __post_init__(self) -> None:
        for name, values in (("types", self.types), ("exclude", self.exclude)):
            if len(values) > MAX_TYPE_FILTERS:
                raise InvalidRequest(f"{name}: at most {MAX_TYPE_FILTERS} event types")
            unknown = [value for value in values if value not in KNOWN_EVENT_TYPES]
            if unknown:
                raise InvalidRequest(f"{name}: unknown event type {unknown[0]!r}")

    def keep(self, event: dict[str, Any]) -> bool:
        if self.types and event["type"] not in self.types:
            return False
        if event["type"] in self.exclude:
            return False
        return self.turn_id is None or (event.get("context") or {}).get("turn_id") == self.turn_id

    @property
    def empty(self) -> bool:
        return not (self.types or self.exclude or self.turn_id)


@dataclass
class EventPage:
    events: list[dict[str, Any]]
    next_since_id: str | None  # where the next oldest-first page starts, when there is one
    truncated_by_bytes: bool = False


def sequence_of(session_hex: str, since_id: str | None, session_id: str) -> int:
    if not since_id:
        return 0
    sequence = ids.parse_event_id(since_id, session_hex)
    if sequence is None:
        raise InvalidRequest(f"since_id {since_id!r} is not an event of session {session_id}")
    return sequence


class EventQueryService:
    def __init__(self, sessions: SessionService, store: ContextStore) -> None:
        self.sessions = sessions
        self.store = store

    def page(
        self,
        tenant_id: str,
        session_id: str,
        since_id: str | None,
        after_sequence: int | None,
        before_sequence: int | None,
        limit: int | None,
        order_desc: bool,
        event_filter: EventFilter,
    ) -> EventPage:
        session = self.sessions.load(tenant_id, session_id)
        after = max(sequence_of(session.hex, since_id, session_id), after_sequence or 0)
        forward_cursor = bool(since_id) or after_sequence is not None
        # Newest first: the newest N (limit without a forward cursor), or everything newest first (order_desc).
        newest_first = (limit is not None and not forward_cursor) or (limit is None and order_desc)
        keep: Callable[[dict[str, Any]], bool] = event_filter.keep
        events, more = self.store.events.scan(
            tenant_id,
            session.hex,
            after,
            before_sequence,
            newest_first,
            limit or EVENTS_CEILING,
            keep,
        )
        events = AnswerSoFar(self.store, session).complete(events)
        kept = payload.within_budget(map(payload.json_payload_bytes, events), payload.RESPONSE_BYTES_BUDGET)
        cut = kept < len(events)
        events = events[:kept]  # in reading order: a newest-first answer keeps its newest events
        next_since_id = events[-1]["id"] if (more or cut) and not newest_first and events else None
        if newest_first != order_desc:
            events.reverse()
        return EventPage(events, next_since_id, cut)

    def follow(self, tenant_id: str, session_id: str, since_id: str | None) -> "EventFollower":
        """The log read on from after `since_id`; the session and the cursor are checked here, so a bad request
        fails before a stream starts."""
        session = self.sessions.load(tenant_id, session_id)
        return EventFollower(self.store, session, sequence_of(session.hex, since_id, session.id))


class EventFollower:
    """A session's event log read on from a point: each read gives the events appended since the one before.

    It never waits: how often to read, and the heartbeats between, are the stream's to pace (agentctx.api.streaming),
    which waits on the event loop rather than on a thread."""

    def __init__(self, store: ContextStore, session: Session, after: int) -> None:
        self.store = store
        self.session = session
        self.after = after
        self.answers = AnswerSoFar(store, session)

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """The next events (up to FOLLOW_PAGE), and whether more are already there."""
        events, more = self.store.events.read(self.session.tenant_id, self.session.hex, self.after, FOLLOW_PAGE)
        if events:
            self.after = events[-1]["sequence"]
        return self.answers.complete(events), more


class AnswerSoFar:
    """Adds `accumulated` (the answer so far, Everruns' field) to the `output.message.delta` events a reader gets.

    It is not stored: stored with every delta it made an answer of n characters cost about n²/2 over its deltas, in
    storage and in reads. Each stored delta carries its `index` in its answer instead; a reader that starts in the
    middle of an answer has the deltas before it read once (backwards, back to the answer's first delta), and
    the rest follows from what it reads. Events are given in log order (oldest first, or newest first reversed)."""

    def __init__(self, store: ContextStore, session: Session) -> None:
        self.store = store
        self.session = session
        self.answers: dict[str, tuple[int, str]] = {}  # message id -> (next delta index, text so far)

    def complete(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        in_order = sorted(events, key=lambda event: event["sequence"])
        for event in in_order:
            data = event["data"]
            if event["type"] != "output.message.delta" or "index" not in data:
                continue  # deltas stored with `accumulated` keep it
            index, message_id = data.pop("index"), data["message_id"]
            known = self.answers.get(message_id)
            if not (known and known[0] == index):  # the first delta of the answer that this reader reads
                known = (index, self._text_before(event, index) if index else "")
            data["accumulated"] = known[1] + data["delta"]
            self.answers[message_id] = (index + 1, data["accumulated"])
        return events

    def _text_before(self, delta: dict[str, Any], index: int) -> str:
        message_id = delta["data"]["message_id"]

        def earlier(event: dict[str, Any]) -> bool:
            return event["type"] == "output.message.delta" and event["data"].get("message_id") == message_id

        found, _ = self.store.events.scan(
            self.session.tenant_id, self.session.hex, 0, delta["sequence"], True, index, earlier, look_beyond=False
        )
        return "".join(event["data"]["delta"] for event in reversed(found))
