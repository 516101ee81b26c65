"""The standard error body ``{"error": {code, message, details, request_id}}`` for every failure.

Every exception leaving a route is turned into this shape; unexpected ones become INTERNAL_ERROR
with no internals in the message (they are logged with the request id instead).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_STATUS_CODES = {
    "INVALID_REQUEST": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CLUSTER_NOT_FOUND": 404,
    "APPLICATION_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}


class APIError(Exception):
    """An error with a contract code; raise it from routes and dependencies."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = _STATUS_CODES[code]
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def error_response(request: Request, error: APIError) -> JSONResponse:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details,
                      "request_id": request_id(request)}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _validation_details(exc: RequestValidationError) -> tuple[str, dict[str, Any]]:
    errors = exc.errors()
    fields = []
    for err in errors:
        location = [str(part) for part in err.get("loc", ()) if part not in ("body", "query",
                                                                              "path")]
        fields.append({"field": ".".join(location), "message": err.get("msg", "invalid")})
    first = fields[0] if fields else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return message, {"field": first["field"], "errors": fields}


def install(app: FastAPI) -> None:
    """Register the handlers that give every failure the standard body."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = _validation_details(exc)
        return error_response(request, APIError("INVALID_REQUEST", message, details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code,
                                                                 "INVALID_REQUEST")
        if exc.status_code >= 500:
            code = "INTERNAL_ERROR"
        return error_response(request, APIError(code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in request %s", request_id(request))
        return error_response(request, APIError(
            "INTERNAL_ERROR", "internal error; quote the request_id when reporting it"))
