"""/docs (Swagger UI) and /redoc, with their scripts served by the service itself: the pages work where no CDN can be
reached; and `/`, which leads to /docs."""

import os
from importlib.util import find_spec

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = "/docs/assets"
# The pages may load nothing from elsewhere: ReDoc's footer would otherwise fetch its logo from a CDN.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:"
)


def _docs_asset_folder() -> str:
    """fastapi-offline's static folder, found without importing the package: a cold start pays nothing for it."""
    spec = find_spec("fastapi_offline")
    assert spec and spec.submodule_search_locations, "fastapi-offline is a runtime dependency"
    return os.path.join(spec.submodule_search_locations[0], "static")


def serve_docs_offline(app: FastAPI) -> None:
    """The two pages, `/` leading to the first, and their assets from the copies the fastapi-offline package ships."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_docs_asset_folder()), name="docs-assets")

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> RedirectResponse:
        """A browser opening the service's address lands on its interactive docs."""
        return RedirectResponse(f"{request.scope.get('root_path', '')}/docs")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            # Swagger UI would otherwise fetch a badge from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page
