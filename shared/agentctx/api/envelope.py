"""The request id every answer carries, and the one error envelope every failure answers with."""

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse


def request_id(request: Request) -> str:
    return request.state.request_id


def error_response(request: Request, status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "requestId": request_id(request)}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)
