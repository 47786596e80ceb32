"""A tenant's usage for a day or a month, as answered."""

from typing import Literal

from pydantic import Field

from agentctx.schemas.base import ResponseModel


class UsageOut(ResponseModel):
    tenant_id: str
    period: Literal["day", "month"]
    start: str = Field(description="The day (yyyy-mm-dd) or month (yyyy-mm), UTC")
    invocations: int
    input_tokens: int
    output_tokens: int
    context_tokens: int
    compactions: int
    stored_tokens: int
    api_calls: int
