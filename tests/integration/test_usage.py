"""Usage metering: counted per tenant as it happens, exact under concurrent requests and idempotent replays."""

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import ADMIN_KEY
from tests.integration.test_sessions_api import append, create_session, note


def usage(api, period="day"):
    return api.get(f"/v1/usage?period={period}").json()["data"]


def test_requests_invocations_and_tokens_are_counted(api, code_assistant):
    session = create_session(api)
    (block,) = append(api, session["id"], note("some context"))
    result = api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "hi", "session": session["id"]})
    invoked = result.json()["data"]

    day = usage(api)

    assert day["tenantId"] == api.tenant_id and day["period"] == "day"
    assert day["invocations"] == 1
    assert (
        day["inputTokens"] == invoked["usage"]["inputTokens"]
        and day["outputTokens"] == invoked["usage"]["outputTokens"]
    )
    assert day["contextTokens"] == invoked["usage"]["contextTokens"] == block["metadata"]["tokenCount"]
    assert day["apiCalls"] == 5  # two creates (model, agent), session, append, invoke; this read is counted after
    assert usage(api, "month")["invocations"] == 1


def test_streamed_invocations_are_counted_when_the_stream_ends(api, code_assistant):
    api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "hi", "stream": True})

    assert usage(api)["invocations"] == 1


def test_counts_are_exact_under_concurrent_requests(api):
    session = create_session(api)
    before = usage(api)["apiCalls"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: append(api, session["id"], note(f"n{i}")), range(40)))

    day = usage(api)
    stored = api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["totalTokens"]
    assert day["apiCalls"] == before + 1 + 40
    assert day["storedTokens"] == stored


def test_an_idempotent_replay_does_no_work_twice(api, code_assistant):
    body = {"agent": "code-assistant", "prompt": "once"}
    headers = {"Idempotency-Key": "inv-1"}

    api.post("/v1/aip/invoke", json=body, headers=headers)
    api.post("/v1/aip/invoke", json=body, headers=headers)

    assert usage(api)["invocations"] == 1


def test_tenants_see_only_their_own_usage_and_the_operator_sees_any(api, other_api, http):
    create_session(api)

    assert usage(other_api)["apiCalls"] == 0
    operator = http.get(f"/v1/admin/tenants/{api.tenant_id}/usage", headers={"X-Admin-Key": ADMIN_KEY}).json()["data"]
    assert operator["tenantId"] == api.tenant_id and operator["apiCalls"] >= 1
    assert http.get(f"/v1/admin/tenants/{api.tenant_id}/usage").status_code == 401


def test_counts_are_exact_under_concurrent_invocations(api, code_assistant):
    session = create_session(api)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(
                lambda i: api.post(
                    "/v1/aip/invoke", json={"agent": "code-assistant", "prompt": f"q{i}", "session": session["id"]}
                ).json()["data"],
                range(12),
            )
        )

    day = usage(api)
    assert day["invocations"] == 12
    assert day["inputTokens"] == sum(answer["usage"]["inputTokens"] for answer in answers)
    assert day["outputTokens"] == sum(answer["usage"]["outputTokens"] for answer in answers)
    assert api.get(f"/v1/aip/sessions/{session['id']}").json()["data"]["metrics"]["invocationCount"] == 12
