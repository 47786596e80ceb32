"""Every failure as the error envelope: domain errors by one status table, validation failures, HTTP errors, and
anything unexpected as a 500 that names the request id."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agentctx import errors
from agentctx.api.envelope import error_response, request_id
from agentctx.observability import logger

STATUS_BY_ERROR: dict[type[errors.DomainError], tuple[int, str]] = {
    errors.NotFound: (404, "not_found"),
    errors.Conflict: (409, "conflict"),
    errors.PayloadTooLarge: (413, "payload_too_large"),
    errors.InvalidRequest: (400, "invalid_request"),
    errors.Unprocessable: (422, "validation_error"),
    errors.Unauthorized: (401, "unauthorized"),
    errors.UpstreamFailed: (502, "model_error"),
    errors.Throttled: (429, "rate_limited"),
}
CODE_BY_STATUS = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "missing"}


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status, code = next(value for kind, value in STATUS_BY_ERROR.items() if isinstance(exc, kind))
    return error_response(request, status, code, exc.message, exc.details)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Malformed JSON and bad query, path or header parameters are 400; a body that fails validation is 422."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    if any(problem["type"] == "json_invalid" for problem in problems):
        return error_response(request, 400, "malformed_json", "the request body is not valid JSON", problems)
    if any(problem["location"] == "body" and problem["type"] in _NOT_AN_OBJECT for problem in problems):
        return error_response(request, 400, "malformed_json", "the request body must be a JSON object", problems)
    if any(not problem["location"].startswith("body") for problem in problems):
        return error_response(request, 400, "invalid_request", "invalid request parameters", problems)
    return error_response(request, 422, "validation_error", "the request body is invalid", problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = CODE_BY_STATUS.get(exc.status_code, "error")
    return error_response(request, exc.status_code, code, str(exc.detail))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"request_id": request_id(request)})
    return error_response(request, 500, "internal_error", "internal error; quote the requestId when reporting it")


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected_error)
