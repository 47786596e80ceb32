"""/docs and /redoc work with no network beyond the service: their assets are served by the service itself."""

import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import embedded_aws
from tests.live import serve

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


@pytest.fixture(scope="module")
def aws():  # type: ignore[no-untyped-def]
    yield from embedded_aws()


@pytest.fixture(scope="module")
def live(aws, app):  # type: ignore[no-untyped-def]
    """One server for the module's tests: they only read the docs pages and their assets."""
    with serve(app) as url:
        yield url


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


def test_swagger_ui_lists_the_operations_in_a_headless_browser(live):
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(BROWSER_MISSING)
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
