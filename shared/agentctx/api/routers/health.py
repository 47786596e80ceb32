"""`GET /health`: no auth, no AWS calls; answers whether the process serves."""

from fastapi import APIRouter

from agentctx.schemas.health import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health() -> Health:
    return Health(status="ok")
