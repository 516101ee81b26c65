"""The standard error body ``{"error": {code, message, details, request_id}}`` for every failure.

Every exception leaving a route is turned into this shape; unexpected ones become INTERNAL_ERROR
with no internals in the message (they are logged with the request id instead).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from lightkube.core.exceptions import ApiError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)

_STATUS_CODES = {
    "INVALID_REQUEST": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "QUOTA_EXCEEDED": 403,
    "NOT_FOUND": 404,
    "CLUSTER_NOT_FOUND": 404,
    "APPLICATION_NOT_FOUND": 404,
    "WORKLOAD_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,  # a contract endpoint this server does not offer (yet)
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


_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z]+)")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def snake(name: str) -> str:
    """camelCase → snake_case, keeping acronyms together (clusterCIDR → cluster_cidr)."""
    return _CAMEL_HUMP.sub(lambda m: "_" + m.group(1).lower(), name).lower()


def rest_field(path: str | Sequence[Any], renames: Mapping[str, str] | None = None) -> str:
    """A CRD field path (``spec.nodeGroups[1].autoScaling`` or a pydantic ``loc``) as the REST
    body names it (``configuration.node_pools[1].auto_scaling``).

    ``renames`` maps a leading camelCase path segment to its REST path (the CRD and REST bodies
    nest differently at the top only).
    """
    parts: list[str | int] = []
    if isinstance(path, str):
        for name, index in _SEGMENT.findall(path):
            parts.append(int(index) if index else name)
    else:
        parts = [p if isinstance(p, int) else str(p) for p in path]
    if parts and parts[0] in ("spec", "metadata"):
        parts = parts[1:]
    text = ""
    for position, part in enumerate(parts):
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        renamed = position == 0 and renames is not None and part in renames
        segment = renames[part] if renamed and renames else snake(part)
        text += ("." if text else "") + segment
    return text


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def error_response(request: Request, error: APIError) -> JSONResponse:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details,
                      "request_id": request_id(request)}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def from_kube(exc: ApiError, *, not_found: APIError | None = None,
              renames: Mapping[str, str] | None = None) -> APIError:
    """An apiserver rejection as the contract's error (the field named as REST names it)."""
    status = exc.status
    code = status.code or 500
    if code in (400, 422):
        causes = (status.details.causes if status.details else None) or []
        field = rest_field(causes[0].field, renames) if causes and causes[0].field else ""
        reason = causes[0].message if causes and causes[0].message else status.message
        message = f"{field}: {reason}" if field else str(reason or "invalid request")
        return APIError("INVALID_REQUEST", message, {"field": field})
    if code == 409:
        already = status.reason == "AlreadyExists"
        return APIError("CONFLICT", "an object with this name already exists" if already else
                        "the object was changed meanwhile; re-read it and retry",
                        {"reason": "already_exists" if already else "stale"})
    if code == 404:
        return not_found or APIError("NOT_FOUND", "not found")
    if code == 403:
        return APIError("FORBIDDEN", "the request was refused by Kubernetes RBAC")
    if code in (401, 429) or code >= 500:
        return APIError("SERVICE_UNAVAILABLE", "the Kubernetes API is unavailable; retry later",
                        headers={"Retry-After": "5"})
    log.warning("unexpected apiserver answer %s: %s", code, status.message)
    return APIError("INTERNAL_ERROR", "internal error; quote the request_id when reporting it")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (the ``Allow`` header of a 405).

    The router's own 405 names only the first route matching the path, but FastAPI registers one
    route per method, so ``GET`` and ``POST /v1/clusters`` are two routes: ask all of them
    (``iter_route_contexts`` also walks the routes of included routers).
    """
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        declared = route.methods
        if declared and route.matches(request.scope)[0] is not Match.NONE:
            methods.update(declared)
    return sorted(methods)


def _method_not_allowed(request: Request) -> APIError:
    allowed = allowed_methods(request)
    return APIError("METHOD_NOT_ALLOWED",
                    f"{request.method} is not allowed on {request.url.path}; "
                    f"allowed: {', '.join(allowed)}",
                    {"method": request.method, "allowed": allowed},
                    headers={"Allow": ", ".join(allowed)})


def _validation_details(exc: RequestValidationError) -> tuple[str, dict[str, Any]]:
    fields = []
    for err in exc.errors():
        location = [part for part in err.get("loc", ()) if part not in ("body", "query", "path",
                                                                          "header")]
        # A union (bool | object) reports the member type it tried; that is not a field.
        location = [p for p in location if not (isinstance(p, str) and "[" in p)]
        fields.append({"field": rest_field(location).replace("-", "_") if location else "",
                       "message": err.get("msg", "invalid")})
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
        if exc.status_code == 405:
            # RFC 9110 §15.5.6: a 405 must list the methods the target supports.
            return error_response(request, _method_not_allowed(request))
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
