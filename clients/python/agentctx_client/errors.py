"""Every non-2xx answer is an ApiError carrying the service's error envelope: its code, message and request id."""

from typing import Any


class ApiError(Exception):
    """The service refused or failed a call. `code` is the envelope's machine-readable code (`not_found`,
    `validation_error`, ...), `request_id` the id to quote when reporting it (also the X-Request-Id header)."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (request {request_id})" if request_id else ""))
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class InvalidRequest(ApiError):
    """400 (malformed JSON, bad parameters) or 422 (a body that fails validation)."""


class RateLimited(ApiError):
    pass


ERROR_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: RateLimited,
}


def error_from(status: int, body: Any, request_id: str | None) -> ApiError:
    envelope = body.get("error") if isinstance(body, dict) else None
    if not isinstance(envelope, dict):
        return ERROR_BY_STATUS.get(status, ApiError)(status, "http_error", str(body)[:500], request_id)
    return ERROR_BY_STATUS.get(status, ApiError)(
        status,
        str(envelope.get("code", "error")),
        str(envelope.get("message", "")),
        envelope.get("requestId") or request_id,
        envelope.get("details"),
    )
