"""The operator's API at the edge: tenants, their API keys and quotas."""

from typing import Annotated

from pydantic import ConfigDict, Field

from agentctx.schemas.base import Name, RequestModel, ResponseModel


class TenantCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Acme"}]})

    name: Name


class TenantOut(ResponseModel):
    id: str
    name: str
    created_at: str


class ApiKeyOut(ResponseModel):
    id: str
    tenant_id: str
    key: str = Field(description="The key itself; shown only in this response")
    created_at: str


class Revoked(ResponseModel):
    revoked: bool


class QuotasIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"requestsPerSecond": 50, "tokensPerMonth": 1000000, "storedTokens": None}]}
    )

    requests_per_second: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None, description="null: the default"
    )
    tokens_per_month: Annotated[int, Field(ge=0)] | None = Field(default=None, description="null: unlimited")
    stored_tokens: Annotated[int, Field(ge=0)] | None = Field(default=None, description="null: unlimited")


class QuotasOut(ResponseModel):
    tenant_id: str
    requests_per_second: int | None
    tokens_per_month: int | None
    stored_tokens: int | None
