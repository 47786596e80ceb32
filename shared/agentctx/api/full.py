"""The whole API in one app: what the local server runs and the tests exercise.

In AWS each function serves only its routers (see functions/); this app is their union.
"""

from fastapi import FastAPI

from agentctx.api.app import create_app
from agentctx.api.routers import (
    admin,
    blocks,
    capabilities,
    catalog,
    channels,
    health,
    invoke,
    runtime_events,
    runtime_messages,
    runtime_sessions,
    runtime_stream,
    sessions,
    usage,
)


def full_app() -> FastAPI:
    return create_app(
        health.router,
        sessions.router,
        blocks.router,
        catalog.router,
        runtime_sessions.router,
        runtime_messages.router,
        runtime_events.router,
        capabilities.router,
        channels.router,
        runtime_stream.router,
        invoke.router,
        admin.router,
        usage.router,
    )
