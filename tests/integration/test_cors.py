"""CORS for the browser front ends a deployment names (CORS_ALLOWED_ORIGINS): a preflight from such an origin is
answered without a key, and its requests' answers, errors included, carry the headers that let its scripts read
them; with no origin configured (the default) nothing carries a CORS header."""

import pytest

from agentctx.settings import get_settings

ORIGIN = "https://console.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key, content-type"}


@pytest.fixture
def browser(http, monkeypatch):  # type: ignore[no-untyped-def]
    """The client, with ORIGIN allowed."""
    monkeypatch.setattr(get_settings(), "cors_allowed_origins", (ORIGIN,))
    return http


def test_a_preflight_from_an_allowed_origin_is_answered_without_a_key(browser):
    answer = browser.options("/v1/aip/sessions", headers={"Origin": ORIGIN, **PREFLIGHT})

    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert {"x-api-key", "content-type"} <= set(answer.headers["Access-Control-Allow-Headers"].lower().split(", "))


def test_a_request_from_an_allowed_origin_can_read_its_answer_and_its_error(browser, api):
    created = browser.post(
        "/v1/aip/sessions", json={"name": "from a browser"}, headers={"Origin": ORIGIN, "X-API-Key": api.key}
    )
    refused = browser.get("/v1/aip/sessions", headers={"Origin": ORIGIN})

    assert created.status_code == 201 and created.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = created.headers["Access-Control-Expose-Headers"].lower()
    assert {"x-request-id", "x-ratelimit-remaining", "retry-after"} <= set(exposed.split(", "))
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_another_origin_gets_no_cors_header(browser, api):
    other = {"Origin": "https://elsewhere.example.com"}
    preflight = browser.options("/v1/aip/sessions", headers={**other, **PREFLIGHT})
    request = browser.get("/v1/aip/sessions", headers={**other, "X-API-Key": api.key})

    assert preflight.status_code == 400 and "Access-Control-Allow-Origin" not in preflight.headers
    assert request.status_code == 200 and "Access-Control-Allow-Origin" not in request.headers


def test_every_header_the_api_reads_may_be_sent_from_an_allowed_origin(browser, app):
    document = app.openapi()
    read = {"content-type", "idempotency-key"}
    read |= {
        p["name"].lower()
        for o in document["paths"].values()
        for op in o.values()
        for p in op.get("parameters", [])
        if p["in"] == "header"
    }
    read |= {s.get("name", "Authorization").lower() for s in document["components"]["securitySchemes"].values()}
    answer = browser.options(
        "/v1/aip/sessions",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ", ".join(sorted(read)),
        },
    )

    assert answer.status_code == 200, answer.text
    assert read <= set(answer.headers["Access-Control-Allow-Headers"].lower().split(", "))


def test_with_no_origin_configured_nothing_carries_a_cors_header(http, api):
    preflight = http.options("/v1/aip/sessions", headers={"Origin": ORIGIN, **PREFLIGHT})
    request = http.get("/v1/aip/sessions", headers={"Origin": ORIGIN, "X-API-Key": api.key})

    assert get_settings().cors_allowed_origins == ()
    assert preflight.status_code == 405 and request.status_code == 200
    assert not [name for name in {**preflight.headers, **request.headers} if name.lower().startswith("access-control-")]
