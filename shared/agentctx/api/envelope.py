"""The request id every answer carries, and the one error envelope every failure answers with."""

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from agentctx.domain import Listed
from agentctx.schemas.base import ListMeta


def request_id(request: Request) -> str:
    return request.state.request_id


def list_meta(request: Request, listed: Listed[Any]) -> ListMeta:
    """A page's meta: `hasMore` exactly when there is a cursor to go on with."""
    return ListMeta(
        request_id=request_id(request),
        has_more=listed.next_cursor is not None,
        next_cursor=listed.next_cursor,
        truncated_by_bytes=listed.truncated_by_bytes,
    )


def error_response(request: Request, status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    """The envelope; an error that says when to try again (`details.retryAfterSeconds`: a 429, a 409 that passes by
    itself) gets it as `Retry-After` here, the one place every error answer is built."""
    body: dict[str, Any] = {"code": code, "message": message, "requestId": request_id(request)}
    if details is not None:
        body["details"] = details
    retry = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)
