"""Quotas per tenant: 429 with Retry-After and nothing saved; rate-limit headers on every response."""

import boto3
import pytest

from tests.conftest import ADMIN_KEY
from tests.integration.test_sessions_api import append, create_session, note


def set_quotas(http, tenant_id, **quotas):
    response = http.put(f"/v1/admin/tenants/{tenant_id}/quotas", json=quotas, headers={"X-Admin-Key": ADMIN_KEY})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_every_response_carries_rate_limit_headers(api, http):
    for response in (api.get("/v1/aip/sessions"), http.get("/health"), http.get("/v1/aip/sessions")):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(response.headers)
    assert api.get("/v1/aip/sessions").headers["X-RateLimit-Limit"] == "100"


def test_request_rate_quota_refuses_with_429_and_retry_after(api, http, monkeypatch):
    from agentctx.wiring import quota_guard

    assert set_quotas(http, api.tenant_id, requestsPerSecond=3)["requestsPerSecond"] == 3
    monkeypatch.setattr(quota_guard(), "clock", lambda: 1_900_000_000.5)  # every request within one second

    answers = [api.post("/v1/aip/sessions", json={"name": f"s{i}"}) for i in range(6)]

    refused = [r for r in answers if r.status_code == 429]
    assert refused, [r.status_code for r in answers]
    assert refused[0].headers["Retry-After"] == "1" and refused[0].headers["X-RateLimit-Remaining"] == "0"
    assert (
        refused[0].json()["error"]["code"] == "rate_limited" and "per second" in refused[0].json()["error"]["message"]
    )
    assert [r.status_code for r in answers] == [201, 201, 201, 429, 429, 429]


def test_stored_token_quota_refuses_appends_and_saves_nothing(api, http):
    session = create_session(api)
    append(api, session["id"], note("words " * 50))
    set_quotas(http, api.tenant_id, storedTokens=10)

    response = api.post("/v1/aip/blocks", json={"sessionId": session["id"], "type": "note", "content": "more"})

    assert response.status_code == 429 and "stored token quota" in response.json()["error"]["message"]
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["blockCount"] == 1


def test_monthly_token_quota_refuses_invocations(api, http, code_assistant):
    api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "hi"})
    set_quotas(http, api.tenant_id, tokensPerMonth=1)

    response = api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "again"})

    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert api.get("/v1/usage").json()["data"]["invocations"] == 1


def test_quotas_are_read_back_and_need_the_operator(api, http):
    set_quotas(http, api.tenant_id, tokensPerMonth=1000)

    got = http.get(f"/v1/admin/tenants/{api.tenant_id}/quotas", headers={"X-Admin-Key": ADMIN_KEY}).json()["data"]

    assert got == {"tenantId": api.tenant_id, "requestsPerSecond": None, "tokensPerMonth": 1000, "storedTokens": None}
    assert http.put(f"/v1/admin/tenants/{api.tenant_id}/quotas", json={}).status_code == 401
    assert (
        http.put("/v1/admin/tenants/org_missing/quotas", json={}, headers={"X-Admin-Key": ADMIN_KEY}).status_code == 404
    )


def test_monthly_token_quota_refuses_session_messages_and_queues_no_turn(api, http, code_assistant, aws):
    session = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"]}).json()
    api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "spend"})
    set_quotas(http, api.tenant_id, tokensPerMonth=1)

    response = api.post(
        f"/v1/sessions/{session['id']}/messages", json={"message": {"content": [{"type": "text", "text": "hi"}]}}
    )

    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert api.get(f"/v1/sessions/{session['id']}/messages").json()["data"] == []
    queued = boto3.client("sqs").receive_message(QueueUrl=aws["TurnQueue"], WaitTimeSeconds=0)
    assert "Messages" not in queued


def month_tokens(api) -> int:
    usage = api.get("/v1/usage?period=month").json()["data"]
    return usage["inputTokens"] + usage["outputTokens"]


def test_token_quota_is_exact_for_back_to_back_requests(api, http, code_assistant):
    set_quotas(http, api.tenant_id, tokensPerMonth=50)
    statuses, used_before = [], []

    for _ in range(5):
        used_before.append(month_tokens(api))
        statuses.append(api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "hi"}).status_code)

    spent = next(i for i, used in enumerate(used_before) if used >= 50)
    assert statuses == [200] * spent + [429] * (5 - spent), (statuses, used_before)
    assert spent >= 1 and used_before[spent - 1] < 50
    assert api.get("/v1/usage?period=month").json()["data"]["invocations"] == spent


def other_container():
    """What a warm Lambda container holds: its own guard, which has already read the tenant's usage."""
    from agentctx.services.quotas import QuotaGuard
    from agentctx.settings import get_settings
    from agentctx.store.tenant_store import TenantStore
    from agentctx.wiring import usage_store

    settings = get_settings()
    return QuotaGuard(TenantStore(settings.tenants_table_name), usage_store(), settings.default_requests_per_second)


def test_a_spent_quota_refuses_on_every_container_at_once(api, http, code_assistant):
    from agentctx.errors import Throttled

    session = create_session(api)
    set_quotas(http, api.tenant_id, tokensPerMonth=10**6, storedTokens=60)
    warm = other_container()
    warm.check_tokens(api.tenant_id)
    warm.check_storage(api.tenant_id)  # usage read (and quotas cached) before the tenant spends them
    set_quotas(http, api.tenant_id, tokensPerMonth=1, storedTokens=60)
    warm.forget(api.tenant_id)

    assert api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "spend"}).status_code == 200
    append(api, session["id"], note("words " * 70))

    with pytest.raises(Throttled, match="monthly token quota"):
        warm.check_tokens(api.tenant_id)
    with pytest.raises(Throttled, match="stored token quota"):
        warm.check_storage(api.tenant_id)


def test_storage_quota_is_exact_for_back_to_back_appends(api, http):
    session = create_session(api)
    set_quotas(http, api.tenant_id, storedTokens=100)
    block = {"sessionId": session["id"], "type": "note", "content": "words " * 40}
    statuses, stored_before = [], []

    for _ in range(5):
        stored_before.append(api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["totalTokens"])
        statuses.append(api.post("/v1/aip/blocks", json=block).status_code)

    spent = next(i for i, stored in enumerate(stored_before) if stored >= 100)
    assert statuses == [201] * spent + [429] * (5 - spent), (statuses, stored_before)
    assert 1 <= spent < 5 and stored_before[spent - 1] < 100


@pytest.fixture
def run_turns(aws):  # type: ignore[no-untyped-def]
    """Deliver what the turn queue holds to the turn function the template names, until it is empty."""
    from infra.local_worker import QueueWorker
    from tests.template.conftest import functions, load_handler, sam_template

    worker = QueueWorker(aws["TurnQueue"], load_handler(functions(sam_template())["TurnFunction"]), batch_size=10)
    return lambda: [None for _ in iter(lambda: worker.poll(wait_seconds=0), False)]


def stored_total(api) -> int:  # type: ignore[no-untyped-def]
    from agentctx.wiring import usage_store

    return usage_store().stored_tokens(api.tenant_id)


def total_tokens(api, aip_session_id: str) -> int:  # type: ignore[no-untyped-def]
    return int(api.get(f"/v1/aip/sessions/{aip_session_id}").json()["data"]["metrics"]["totalTokens"])


def test_every_block_writer_counts_stored_tokens_and_a_spent_storage_quota_refuses_them_all(
    api, http, aws, code_assistant, run_turns
):
    """A message and its turn, a saved invocation and a fork store blocks: each counts their tokens into the tenant's
    stored tokens, the purge counts them out, and once the quota is spent every one of those requests is refused,
    by a container that never served the tenant as by a warm one."""
    from agentctx.errors import Throttled
    from tests.integration.bounded_requests.helpers import run_session_jobs
    from tests.integration.turns.helpers import say

    runtime = api.post("/v1/sessions", json={"agent_id": code_assistant["agent"]["id"], "title": "t"}).json()
    aip_id = "sess_" + runtime["id"].removeprefix("session_")
    assert api.post(f"/v1/sessions/{runtime['id']}/messages", json=say("remember the auth flow")).status_code == 201
    run_turns()
    assert stored_total(api) == total_tokens(api, aip_id) > 0  # the message's block and the turn's output

    invoked = api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "and more", "session": aip_id})
    assert invoked.status_code == 200, invoked.text
    assert stored_total(api) == total_tokens(api, aip_id)  # the prompt's and the answer's blocks too

    fork = api.post(f"/v1/aip/sessions/{aip_id}/fork", json={"name": "f"}).json()["data"]
    run_session_jobs(aws)
    assert stored_total(api) == total_tokens(api, aip_id) + total_tokens(api, fork["id"])

    api.delete(f"/v1/aip/sessions/{fork['id']}")
    run_session_jobs(aws)
    assert stored_total(api) == total_tokens(api, aip_id)

    warm = other_container()
    warm.check_storage(api.tenant_id)  # quotas and usage read before the quota is spent
    set_quotas(http, api.tenant_id, storedTokens=stored_total(api))
    warm.forget(api.tenant_id)
    with pytest.raises(Throttled, match="stored token quota"):
        warm.check_storage(api.tenant_id)
    with pytest.raises(Throttled, match="stored token quota"):
        other_container().check_storage(api.tenant_id)
    refused = [
        api.post(f"/v1/sessions/{runtime['id']}/messages", json=say("one more")),
        api.post(f"/v1/sessions/{runtime['id']}/fork"),
        api.post(f"/v1/aip/sessions/{aip_id}/fork", json={"name": "g"}),
        api.post("/v1/aip/sessions", json={"name": "h", "fromSession": aip_id}),
        api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "again", "session": aip_id}),
        api.post("/v1/aip/blocks", json={"sessionId": aip_id, "type": "note", "content": "more"}),
    ]
    assert [response.status_code for response in refused] == [429] * 6
    assert all("stored token quota" in response.json()["error"]["message"] for response in refused)
    ephemeral = api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "no session"})
    assert ephemeral.status_code == 200  # stores nothing, so the storage quota does not apply
    assert api.post("/v1/aip/sessions", json={"name": "empty"}).status_code == 201  # nor does a new, empty session


def test_a_batch_refused_by_the_storage_quota_midway_takes_back_what_it_wrote(api, http):
    """100 tagged blocks take three transactions: the first fits under the quota, the second finds it reached."""
    session = create_session(api)
    append(api, session["id"], note("first"))
    set_quotas(http, api.tenant_id, storedTokens=stored_total(api) + 1)
    batch = [{"type": "note", "content": f"note {i}", "tags": [f"t{i}"]} for i in range(100)]

    response = api.post(f"/v1/aip/sessions/{session['id']}/blocks", json={"blocks": batch})

    assert response.status_code == 429 and "stored token quota" in response.json()["error"]["message"]
    assert stored_total(api) == total_tokens(api, session["id"])
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["blockCount"] == 1
