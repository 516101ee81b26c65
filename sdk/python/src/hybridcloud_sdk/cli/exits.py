"""Exit codes scripts can rely on, and the mapping from SDK errors to them."""

from __future__ import annotations

from enum import IntEnum

from pydantic import ValidationError

from ..errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EndpointNotAvailableError,
    HybridCloudError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    WaitTimeoutError,
)


class Exit(IntEnum):
    OK = 0
    ERROR = 1  # an API error not listed below (500, ...)
    USAGE = 2  # bad arguments, a bad input file, or the API's 400
    AUTH = 3  # not logged in, 401 or 403
    NOT_FOUND = 4
    CONFLICT = 5
    NOT_AVAILABLE = 6  # this server does not offer the endpoint (yet)
    UNAVAILABLE = 7  # API unreachable, 503 or still rate limited after retries
    WAIT_FAILED = 8  # --wait: the operation failed, or the wait timed out


def exit_code(error: BaseException) -> Exit:
    table: list[tuple[type[BaseException] | tuple[type[BaseException], ...], Exit]] = [
        (EndpointNotAvailableError, Exit.NOT_AVAILABLE),
        ((AuthenticationError, PermissionDeniedError), Exit.AUTH),
        (NotFoundError, Exit.NOT_FOUND),
        (ConflictError, Exit.CONFLICT),
        ((BadRequestError, ValidationError, ValueError), Exit.USAGE),
        ((APIConnectionError, ServiceUnavailableError, RateLimitedError), Exit.UNAVAILABLE),
        (WaitTimeoutError, Exit.WAIT_FAILED),
        (LookupError, Exit.AUTH),  # no such context: not logged in
        ((APIError, HybridCloudError), Exit.ERROR),
    ]
    for kinds, code in table:
        if isinstance(error, kinds):
            return code
    raise error
