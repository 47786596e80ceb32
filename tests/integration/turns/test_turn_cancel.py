"""Cancelling a session's turn, queued or running: it ends as cancelled and the session works on."""

from collections.abc import Iterator

from agentctx.providers.base import ModelRequest, TextDelta, Usage
from tests.integration.turns.helpers import events_of, say


def test_cancel_stops_a_queued_turn(api, session, run_turns):
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("never mind"))
    cancelled = api.post(f"/v1/sessions/{session['id']}/cancel")
    assert cancelled.status_code == 200

    run_turns()

    types = [e["type"] for e in events_of(api, session["id"])]
    assert types == ["input.message", "turn.cancelled", "session.idled"]
    assert [m["role"] for m in api.get(f"/v1/sessions/{session['id']}/messages").json()["data"]] == ["user"]
    # the session works on: the next message gets its answer
    api.post(f"/v1/sessions/{session['id']}/messages", json=say("now then"))
    run_turns()
    assert [e["type"] for e in events_of(api, session["id"])][-2:] == ["turn.completed", "session.idled"]


class CancelMidAnswer:
    """A model that streams, has the client cancel the session, and streams on."""

    def __init__(self, inner, cancel) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.cancel = inner, cancel

    def __call__(self, model):  # type: ignore[no-untyped-def]
        return self

    def stream(self, request: ModelRequest) -> Iterator:
        yield TextDelta("Thinking about it ")
        self.cancel()
        yield from (TextDelta(f"word{i} ") for i in range(50))
        yield Usage(10, 51)


def test_cancel_stops_a_running_turn(api, session, run_turns):
    from agentctx.wiring import agent_loop

    service = agent_loop()
    original = service.provider_for
    service.provider_for = CancelMidAnswer(None, lambda: api.post(f"/v1/sessions/{session['id']}/cancel"))
    try:
        api.post(f"/v1/sessions/{session['id']}/messages", json=say("long answer please"))
        run_turns()
    finally:
        service.provider_for = original

    events = events_of(api, session["id"])
    types = [e["type"] for e in events]
    assert types[-2:] == ["turn.cancelled", "session.idled"]
    assert "turn.completed" not in types and "output.message.completed" not in types
    assert api.get(f"/v1/sessions/{session['id']}").json()["status"] == "idle"
