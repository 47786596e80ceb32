"""/docs and /redoc work with no network beyond the service: their assets are served by the service itself; and on
`make serve`'s server, Swagger UI calls the API with the printed key and the documents' examples."""

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import embedded_aws
from tests.live import serve
from tests.local.server import LocalServer, free_port

CHROMIUM = "/usr/bin/chromium"
# Chromium reaching for nothing but the page: no updates, sync, field trials or other background traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BROWSER_MISSING = (
    f"no browser: {CHROMIUM} is not installed (apt-get install chromium); /docs was checked over HTTP only"
)
# the local tenant's key, as `AIP_API_KEY=... make serve` sets it
LOCAL_KEY = "ctx_docs_page_demo"


def require_browser() -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(BROWSER_MISSING)


@pytest.fixture(scope="module")
def aws():  # type: ignore[no-untyped-def]
    yield from embedded_aws()


@pytest.fixture(scope="module")
def live(aws, app):  # type: ignore[no-untyped-def]
    """One server for the module's tests: they only read the docs pages and their assets."""
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    """`make serve`'s process with a known key, as the README starts it (only for a browser to use)."""
    require_browser()
    folder = tmp_path_factory.mktemp("local")
    server = LocalServer(folder / "state", free_port(), folder / "server.log", AIP_API_KEY=LOCAL_KEY).wait_ready()
    yield server
    server.stop()


def referenced_urls(html: str) -> list[str]:
    """Every URL a page names: src/href attributes and the url/spec-url values of its inline script."""
    return re.findall(r"""(?:src|href|url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_the_service_and_each_url_answers(live, page):
    with httpx.Client(base_url=live) as http:
        html = http.get(page)
        assert html.status_code == 200
        urls = referenced_urls(html.text)

        assert "/openapi.json" in urls
        assert any(url.endswith(".js") for url in urls)
        assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
        assert "cdn" not in html.text.lower() and "fonts.googleapis" not in html.text
        for url in urls:
            assert http.get(url).status_code == 200, url


def test_the_service_s_address_leads_to_swagger_ui(live):
    with httpx.Client(base_url=live) as http:
        root = http.get("/")
        page = http.get("/", follow_redirects=True)

    assert root.status_code == 307 and root.headers["location"] == "/docs"
    assert page.status_code == 200 and "swagger-ui" in page.text


def test_swagger_ui_lists_the_operations_in_a_headless_browser(live):
    require_browser()
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    failed: dict[str, str | None] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("requestfailed", lambda request: failed.update({request.url: request.failure}))
            page.goto(f"{live}/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = set(page.locator(".opblock-summary-path").all_inner_texts())
            page.goto(f"{live}/redoc")
            page.wait_for_selector("[data-section-id^='operation/']", state="attached", timeout=30_000)
            redoc_operations = page.locator("[data-section-id^='operation/']").count()
        finally:
            browser.close()

    assert {"/v1/aip/sessions", "/v1/aip/sessions/{sessionId}/fork", "/v1/sessions/{session_id}/events"} <= {
        path.replace("\u200b", "") for path in paths
    }
    assert redoc_operations >= 30
    # nothing leaves the machine: every request goes to the service, or its content policy stops it unsent
    elsewhere = [url for url in requested if not url.startswith((live, f"blob:{live}"))]
    assert requested and all(failed.get(url) == "csp" for url in elsewhere), (elsewhere, failed)


def try_it_out(page, method: str, path: str, **parameters: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """Runs one operation as a reader does in Swagger UI: open it, "Try it out", fill in the path parameters, keep the
    example body, "Execute"; the status and body the page shows."""
    operation = page.locator(f".opblock-{method}:has(.opblock-summary-path[data-path='{path}'])")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    for name, value in parameters.items():
        operation.locator(f"input[placeholder='{name}']").fill(value)
    operation.locator("button.execute").click()
    answer = operation.locator(".live-responses-table .response")
    answer.wait_for(timeout=30_000)
    status = int(answer.locator(".response-col_status").inner_text().strip())
    return status, json.loads(answer.locator(".response-col_description pre").first.inner_text())


def test_swagger_ui_authorizes_with_the_tenant_key_and_runs_the_examples(local_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{local_server.url}/docs")
            page.locator("button.authorize").first.click()
            scheme = page.locator(".auth-container:has-text('TenantApiKey')")
            scheme.locator("input").fill(LOCAL_KEY)
            scheme.locator("button.authorize").click()
            page.locator("button.btn-done").first.click()

            created = try_it_out(page, "post", "/v1/aip/sessions")
            session = created[1]["data"]["id"]
            appended = try_it_out(page, "post", "/v1/aip/sessions/{sessionId}/blocks", sessionId=session)
            invoked = try_it_out(page, "post", "/v1/aip/invoke")
        finally:
            browser.close()

    assert created[0] == 201 and created[1]["data"]["tags"] == ["project-x", "auth"]
    assert appended[0] == 201 and [block["sessionId"] for block in appended[1]["data"]] == [session, session]
    assert invoked[0] == 200 and invoked[1]["data"]["status"] == "completed"
