"""Builds a FastAPI app from routers, or one function's app from the registry, with one error envelope for every
failure, the middlewares every request runs through (CORS outermost), and the offline docs pages."""

from importlib import import_module

from fastapi import APIRouter, FastAPI

from agentctx.api import registry
from agentctx.api.cors import add_cors
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
    add_cors(app)
    add_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def routers_named(*names: str) -> list[APIRouter]:
    """The routers of these modules of agentctx.api.routers, imported only now: an app loads only what it serves."""
    return [import_module(f"agentctx.api.routers.{name}").router for name in names]


def function_app(logical_id: str) -> FastAPI:
    """The app of one function of the registry: its routers, and those it serves unrouted."""
    function = registry.function(logical_id)
    return create_app(*routers_named(*function.unrouted, *function.routers))
