"""CORS for the browser front ends a deployment names (CORS_ALLOWED_ORIGINS); with none, the default, no answer
carries a CORS header.

The app answers a preflight itself, before any other middleware and without a key (a browser sends none on a
preflight): API Gateway routes each path's OPTIONS to a function without the authorizer (infra/routes.py).
"""

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from agentctx.settings import get_settings

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Request headers beyond the CORS-safelisted ones: the keys, JSON bodies and the API's own headers
# (tests/integration/test_cors.py checks every header the OpenAPI document names is here).
ALLOWED_HEADERS = (
    "X-API-Key",
    "Authorization",
    "X-Admin-Key",
    "Content-Type",
    "Idempotency-Key",
    "Prefer",
    "Last-Event-ID",
    "X-AIP-Agent",
)
# Answer headers a script may read beyond the CORS-safelisted ones.
EXPOSED_HEADERS = (
    "X-Request-Id",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "Idempotent-Replayed",
)


class AllowedOriginsCors:
    """Starlette's CORS middleware for the allowed origins, or the app alone when there are none. The setting is read
    on each request, as every other setting is where it is used (it is never read at import)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: tuple[tuple[str, ...], ASGIApp] = ((), app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origins = get_settings().cors_allowed_origins
        if origins != self._cors[0]:
            self._cors = (origins, self._wrap(origins))
        await self._cors[1](scope, receive, send)

    def _wrap(self, origins: tuple[str, ...]) -> ASGIApp:
        if not origins:
            return self.app
        from starlette.middleware.cors import CORSMiddleware  # imported only where origins are allowed: ~2 ms

        return CORSMiddleware(
            self.app,
            allow_origins=origins,
            allow_methods=METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
        )


def add_cors(app: FastAPI) -> None:
    """Added last, so it runs first: a preflight is answered before request ids, idempotency or metering, and every
    answer, an error included, leaves with the headers."""
    app.add_middleware(AllowedOriginsCors)
