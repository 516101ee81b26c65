"""ARM failures as the platform's error classes, the client secret redacted."""

from __future__ import annotations

from collections.abc import Sequence

from azure.core.exceptions import HttpResponseError

from hybridcloud.providers.base import (
    AuthenticationError,
    InvalidConfigurationError,
    PermanentError,
    ProviderError,
    QuotaExceededError,
    TransientError,
    redact,
    retry_after_header,
)

# ARM codes for "another operation is still running on this resource": retry later.
BUSY_CODES = {"OperationNotAllowed", "AnotherOperationInProgress", "Conflict"}


class NotFoundError(PermanentError):
    """ARM 404: callers for which absence is fine catch it; for the others it stays permanent."""

    reason = "NotFound"


def translate(exc: HttpResponseError, action: str, secrets: Sequence[str]) -> ProviderError:
    status = exc.status_code or 0
    code = exc.error.code if exc.error is not None and exc.error.code else ""
    detail = exc.error.message if exc.error is not None and exc.error.message else exc.reason
    message = redact(f"AKS {action} failed: ({code or status}) {detail}", secrets)
    retry_after = retry_after_header(getattr(exc.response, "headers", None))
    if status in (408, 429) or status >= 500:
        return TransientError(message, retry_after=retry_after)
    if "quota" in f"{code} {detail}".lower():  # before 409: Compute says it with a 409 too
        return QuotaExceededError(message)
    if status == 409 and (code in BUSY_CODES or "in progress" in message.lower()):
        return TransientError(message, retry_after=retry_after, reason="OperationInProgress")
    if status in (401, 403) and code != "RequestDisallowedByPolicy":
        return AuthenticationError(message)
    if status == 404:
        return NotFoundError(message)
    return InvalidConfigurationError(message) if status == 400 else PermanentError(message)
