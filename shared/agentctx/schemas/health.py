"""The readiness check's answer."""

from typing import Literal

from agentctx.schemas.base import ResponseModel


class Health(ResponseModel):
    status: Literal["ok"]
