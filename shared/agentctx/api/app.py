"""Builds a FastAPI app from routers, with one error envelope for every failure, the middlewares every request runs
through, and the offline docs pages."""

from fastapi import APIRouter, FastAPI

from agentctx.api.description import API_DESCRIPTION
from agentctx.api.docs_pages import serve_docs_offline
from agentctx.api.error_handlers import add_error_handlers
from agentctx.api.middlewares import add_middlewares
from agentctx.api.openapi import document_error_envelope


def create_app(*routers: APIRouter) -> FastAPI:
    app = FastAPI(
        title="Agent Context Service",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    serve_docs_offline(app)
    document_error_envelope(app)
    add_middlewares(app)
    add_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app
