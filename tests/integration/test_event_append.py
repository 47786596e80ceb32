"""Appending to a session's event log when other writers got there first (services/event_append.py): the refused
write itself says where the session stands, so trying again costs no read."""

import pytest

from tests.dynamo_calls import CallCounter
from tests.integration.test_sessions_api import create_session


def event(kind: str) -> list[dict]:
    return [{"type": kind, "data": {}}]


def read_twice(api):  # type: ignore[no-untyped-def]
    """Two writers' reads of one session, taken before either writes."""
    from agentctx import ids
    from agentctx.wiring import context_store

    session_hex = ids.parse_prefixed_hex(create_session(api)["id"], ids.SESSION_PREFIX)
    assert session_hex is not None
    return [context_store().sessions.get(api.tenant_id, session_hex) for _ in range(2)]


def test_an_overtaken_writer_tries_again_from_where_its_refusal_says_the_log_is(api):
    from agentctx.domain import utc_now
    from agentctx.services.event_append import Append, append_with_retry
    from agentctx.wiring import context_store

    first, second = read_twice(api)
    append_with_retry(context_store(), first, lambda session: Append(event("session.activated"), utc_now()))
    attempts: list[int] = []

    def attempt(session):  # type: ignore[no-untyped-def]
        attempts.append(session.turns.event_seq)
        return Append(event("session.idled"), utc_now())

    counter = CallCounter()
    with counter.measure() as written:
        stamped = append_with_retry(context_store(), second, attempt)

    assert attempts == [0, 1]  # built again from the refusal's view of the session
    assert [e["sequence"] for e in stamped] == [2] and second.turns.event_seq == 2
    assert written["detail"] == "TransactWriteItems 2"  # the refused write and the one that lands; no read


def test_a_writer_whose_session_was_deleted_meanwhile_is_told_it_is_gone(api):
    from agentctx.domain import utc_now
    from agentctx.services.event_append import Append, append_with_retry
    from agentctx.store.transactions import SessionGone
    from agentctx.wiring import context_store

    (stale, _) = read_twice(api)
    api.delete(f"/v1/aip/sessions/{stale.id}")

    counter = CallCounter()
    with counter.measure() as written, pytest.raises(SessionGone):
        append_with_retry(context_store(), stale, lambda session: Append(event("session.idled"), utc_now()))
    assert written["detail"] == "TransactWriteItems 1"
