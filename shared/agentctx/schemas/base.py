"""What every edge model shares: the base classes (camelCase for the AIP surface, snake_case for the agent-runtime
one), the annotated field types, and the envelopes responses travel in."""

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from agentctx.payload import RESPONSE_BYTES_BUDGET

T = TypeVar("T")

Tag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=True)]
SessionIdIn = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MAX_SESSION_TAGS = 20


class RequestModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SnakeRequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Meta(ResponseModel):
    request_id: str


class ListMeta(Meta):
    has_more: bool = Field(description="True exactly when `nextCursor` is given")
    next_cursor: str | None = None
    truncated_by_bytes: bool = Field(
        default=False,
        description="The page holds fewer items than `limit` asked for, because one more would have taken the "
        f"answer past its byte budget ({RESPONSE_BYTES_BUDGET:,} bytes, under Lambda's 6 MB); `nextCursor` goes on",
    )


class Envelope(ResponseModel, Generic[T]):
    data: T
    meta: Meta


class ListEnvelope(ResponseModel, Generic[T]):
    data: list[T]
    meta: ListMeta


class ErrorBody(ResponseModel):
    code: str
    message: str
    request_id: str
    details: Any | None = None


class ErrorEnvelope(ResponseModel):
    error: ErrorBody


class Deleted(ResponseModel):
    deleted: bool
