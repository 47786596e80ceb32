"""Every answer that means "try again" (a 429, a 409 that passes by itself) carries Retry-After, from the one
error envelope; a 409 that will not pass (a name taken) carries none."""

import asyncio
import hashlib
import json

import pytest
from starlette.requests import Request

from agentctx import errors
from agentctx.api.error_handlers import STATUS_BY_ERROR, _domain_error
from agentctx.providers.base import ProviderError

# The 409s that say "this clashes with the state; do not send it again as it is".
NOT_TRY_AGAIN = {errors.Conflict}


def error_classes(base: type[errors.DomainError] = errors.DomainError) -> list[type[errors.DomainError]]:
    found = []
    for kind in base.__subclasses__():
        found += [kind, *error_classes(kind)]
    return found


def answer(error: errors.DomainError) -> tuple[int, dict[str, str], dict]:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [], "state": {"request_id": "r"}})
    response = asyncio.run(_domain_error(request, error))
    return response.status_code, dict(response.headers), json.loads(response.body)["error"]


@pytest.mark.parametrize("kind", error_classes(), ids=lambda kind: kind.__name__)
def test_each_try_again_error_answers_with_retry_after_and_the_others_without(kind):
    status, headers, body = answer(kind("message"))

    if status in (409, 429) and kind not in NOT_TRY_AGAIN:
        assert int(headers["retry-after"]) >= 1
        assert headers["retry-after"] == str(body["details"]["retryAfterSeconds"])
    else:
        assert "retry-after" not in headers


def test_every_error_class_has_a_status():
    for kind in error_classes():
        assert any(issubclass(kind, mapped) for mapped in STATUS_BY_ERROR), kind


def test_a_model_providers_rate_limit_is_a_429_with_retry_after(api, code_assistant, monkeypatch):
    from agentctx.providers.offline import OfflineProvider

    def throttled(self, request):  # type: ignore[no-untyped-def]
        raise ProviderError("throttled", "slow down", retryable=True)

    monkeypatch.setattr(OfflineProvider, "stream", throttled)

    response = api.post("/v1/aip/invoke", json={"agent": "code-assistant", "prompt": "hello"})

    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1


def test_a_retry_while_the_first_request_runs_is_a_409_with_retry_after(api):
    from agentctx.idempotency import persistence

    body = b'{"name":"once"}'  # as the middleware compares bodies: compact, keys sorted
    persistence().save_inprogress(
        data={
            "key": f"tenant:{api.tenant_id}|/v1/aip/sessions|running",
            "payload": hashlib.sha256(b"\n" + body).hexdigest(),
        },
        remaining_time_in_millis=60_000,
    )

    response = api.post(
        "/v1/aip/sessions",
        content=body,
        headers={"Idempotency-Key": "running", "Content-Type": "application/json"},
    )

    assert response.status_code == 409 and response.json()["error"]["code"] == "request_in_progress"
    assert response.headers["Retry-After"] == str(response.json()["error"]["details"]["retryAfterSeconds"])
