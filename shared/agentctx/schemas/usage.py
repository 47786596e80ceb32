"""A tenant's usage for a day or a month, as answered."""

from typing import Literal

from pydantic import Field

from agentctx.schemas.base import ResponseModel


class UsageOut(ResponseModel):
    tenant_id: str
    period: Literal["day", "month"]
    start: str = Field(description="The day (yyyy-mm-dd) or month (yyyy-mm), UTC")
    invocations: int
    input_tokens: int = Field(description="All the input the model calls took, cache reads and writes included")
    cache_read_tokens: int = Field(description="Input read from the providers' prompt caches")
    cache_write_tokens: int = Field(description="Input written to the providers' prompt caches")
    output_tokens: int
    cost_usd: float = Field(description="What the calls of models with a price cost (others count nothing)")
    context_tokens: int
    compactions: int
    stored_tokens: int
    api_calls: int
