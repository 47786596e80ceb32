"""Quotas under concurrency: 50 requests at once at the edge of a quota are admitted within the documented bound
(docs/api.md, "Quotas"): exactly for stored tokens, at most the back-to-back count for monthly tokens."""

from concurrent.futures import ThreadPoolExecutor

from tests.integration.test_quotas import month_tokens, set_quotas, stored_total
from tests.integration.test_sessions_api import create_session

AT_ONCE = 50


def at_once(send):  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        return [response.status_code for response in pool.map(lambda _: send(), range(AT_ONCE))]


def test_fifty_concurrent_appends_with_room_for_ten_store_exactly_ten(api, http):
    session = create_session(api)
    block = {"sessionId": session["id"], "type": "note", "content": "words " * 40}
    assert api.post("/v1/aip/blocks", json=block).status_code == 201
    size = stored_total(api)
    set_quotas(http, api.tenant_id, storedTokens=11 * size)

    statuses = at_once(lambda: api.post("/v1/aip/blocks", json=block))

    assert sorted(statuses) == [201] * 10 + [429] * (AT_ONCE - 10)
    assert stored_total(api) == 11 * size
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["blockCount"] == 11


def test_fifty_concurrent_invocations_with_room_for_ten_run_at_most_ten(api, http, code_assistant):
    invoke = {"agent": "code-assistant", "prompt": "hi"}
    assert api.post("/v1/aip/invoke", json=invoke).status_code == 200
    one = month_tokens(api)
    set_quotas(http, api.tenant_id, tokensPerMonth=11 * one)

    statuses = at_once(lambda: api.post("/v1/aip/invoke", json=invoke))

    admitted = statuses.count(200)
    assert 1 <= admitted <= 10 and statuses.count(429) == AT_ONCE - admitted, statuses
    assert month_tokens(api) == (1 + admitted) * one < 11 * one + one
    assert api.get("/v1/usage?period=month").json()["data"]["invocations"] == 1 + admitted


def month_counter(api) -> int:  # type: ignore[no-untyped-def]
    from agentctx.metering import today
    from agentctx.wiring import usage_store

    return usage_store().month_tokens(api.tenant_id, today()[:7])


def test_a_quota_filled_only_by_holds_refuses_for_seconds_and_admits_once_they_are_released(api, http, code_assistant):
    from agentctx.metering import today
    from agentctx.wiring import usage_store

    invoke = {"agent": "code-assistant", "prompt": "hi"}
    set_quotas(http, api.tenant_id, tokensPerMonth=1000)
    assert usage_store().hold_month_tokens(api.tenant_id, today()[:7], 1000, 1000) is None  # an invocation running

    refused = api.post("/v1/aip/invoke", json=invoke)

    assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
    assert "held by invocations running (0 used)" in refused.json()["error"]["message"]
    usage_store().add(api.tenant_id, today(), {"tokensHeld": 1000})  # it ended having used nothing
    assert api.post("/v1/aip/invoke", json=invoke).status_code == 200
    assert month_counter(api) == month_tokens(api) > 0


def test_an_invocation_that_fails_unexpectedly_releases_its_hold(api, http, code_assistant, monkeypatch):
    from agentctx.wiring import invocation_service

    set_quotas(http, api.tenant_id, tokensPerMonth=10**6)
    recorder = invocation_service().recorder
    monkeypatch.setattr(recorder, "finish", lambda *args: (_ for _ in ()).throw(RuntimeError("store down")))

    response = api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "hi"})

    assert response.status_code == 500
    assert month_counter(api) == 0
