"""Typed errors: every failure the API reports carries the contract's error body
(``code``, ``message``, ``details``, ``request_id``) plus the HTTP status."""

from __future__ import annotations

from typing import Any

import httpx


class HybridCloudError(Exception):
    """Base of every error raised by the SDK."""


class APIConnectionError(HybridCloudError):
    """The API could not be reached (refused, DNS, TLS) or did not answer in time."""


class APITimeoutError(APIConnectionError):
    """The request timed out (the client's ``timeout``)."""


class WaitTimeoutError(HybridCloudError):
    """A waiting helper gave up before the resource reached the wanted state."""


class APIError(HybridCloudError):
    """The API answered with an error status and the standard error body."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any],
                 request_id: str, headers: httpx.Headers | None = None) -> None:
        super().__init__(f"{status} {code}: {message}"
                         + (f" (request_id {request_id})" if request_id else ""))
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id
        self.headers = headers or httpx.Headers()


class BadRequestError(APIError):
    """400: the request was invalid; ``details`` names the field or parameter."""


class AuthenticationError(APIError):
    """401: no token, a bad one, or an expired one."""


class PermissionDeniedError(APIError):
    """403: Kubernetes RBAC does not allow this (or a quota is exhausted)."""


class NotFoundError(APIError):
    """404: the cluster, application, workload or operation does not exist."""


class ConflictError(APIError):
    """409: the resource exists already or changed meanwhile."""


class RateLimitedError(APIError):
    """429: still rate limited after the client's retries."""


class ServerError(APIError):
    """5xx other than 503."""


class ServiceUnavailableError(ServerError):
    """503: a backend the API needs is down; still failing after the client's retries."""


class EndpointNotAvailableError(APIError):
    """This server does not offer the endpoint (yet): it answered 404 for the route, 405 or 501.
    Raised instead of a result; never a fabricated answer."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError,
    404: NotFoundError, 409: ConflictError, 429: RateLimitedError, 503: ServiceUnavailableError,
}
# The API's answer for a path it has no route for (a missing *object* has a specific code).
_NO_ROUTE_CODES = {"NOT_FOUND", "METHOD_NOT_ALLOWED", "NOT_IMPLEMENTED"}


def error_from_response(response: httpx.Response, *, optional_endpoint: bool = False) -> APIError:
    """The typed error for an error ``response``; bodies that are not the standard shape (a
    proxy's HTML page) still give a typed error with the status and the start of the text."""
    code, message, request_id = "", response.reason_phrase, ""
    details: dict[str, Any] = {}
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code", ""))
            message = str(error.get("message", message))
            details = error.get("details") or {}
            request_id = str(error.get("request_id", ""))
    except ValueError:
        message = response.text[:200] or message
    status = response.status_code
    code = code or f"HTTP_{status}"
    request_id = request_id or response.headers.get("X-Request-ID", "")
    if optional_endpoint and (status in (405, 501) or (status == 404 and code in _NO_ROUTE_CODES)):
        path = response.request.url.path
        return EndpointNotAvailableError(
            status, code, f"{response.request.method} {path} is not available on this server"
            f" ({message})", details, request_id, response.headers)
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
    return kind(status, code, message, details, request_id, response.headers)
