"""The whole API in one app: what the local server runs and the tests exercise.

In AWS each function serves only its routers (agentctx.api.registry); this app is their union, in the registry's
order.
"""

from fastapi import FastAPI

from agentctx.api.app import create_app, routers_named
from agentctx.api.registry import ROUTERS


def full_app() -> FastAPI:
    return create_app(*routers_named(*ROUTERS))
