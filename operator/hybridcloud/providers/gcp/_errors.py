"""GKE, Compute Engine, auth and connection failures as the platform's error classes,
credentials redacted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

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


def error_class(code: int, status: str, message: str,
                reasons: Sequence[str] = ()) -> type[ProviderError]:
    """The operator's error class for an HTTP code, google.rpc status, message and the
    ``ErrorInfo`` reasons from the error's ``details``."""
    lowered = message.lower()
    if code in (408, 429) or code >= 500 \
            or status in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED") \
            or (status == "FAILED_PRECONDITION" and "operation" in lowered):
        return TransientError  # throttled (429s say "quota" too), down, or busy
    # Before authentication: GKE reports "Insufficient regional quota" as 403
    # PERMISSION_DENIED, which is not a credentials problem.
    if status == "RESOURCE_EXHAUSTED" or "quota" in lowered \
            or any("QUOTA" in reason.upper() for reason in reasons):
        return QuotaExceededError
    if code == 401 or status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return AuthenticationError
    if code == 400 and status != "FAILED_PRECONDITION":
        return InvalidConfigurationError
    return PermanentError


def from_http(action: str, response: requests.Response,
              secrets: Sequence[str]) -> ProviderError:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):  # OAuth-style bodies carry a string here
        error = {"message": str(error)}
    message = str(error.get("message") or response.reason or "unknown error")
    status = str(error.get("status") or "")
    reasons = error_reasons(error.get("details"))
    text = redact(f"GKE {action} failed: {message} "
                  f"({f'{response.status_code} {status}'.strip()})", secrets)
    kind = error_class(response.status_code, status, message, reasons)
    if issubclass(kind, TransientError):
        return kind(text, retry_after=retry_after_header(response.headers))
    return kind(text)


def error_reasons(details: object) -> list[str]:
    """The ``reason`` of every ``google.rpc.ErrorInfo`` in a status's ``details``."""
    if not isinstance(details, list):
        return []
    return [str(d["reason"]) for d in details if isinstance(d, dict)
            and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo") and d.get("reason")]


@contextmanager
def translated(action: str, secrets: Sequence[str], *, static_token: bool) -> Iterator[None]:
    """Turn SDK, auth and connection failures into the operator's error classes."""
    try:
        yield
    except ProviderError:
        raise
    except api_exceptions.GoogleAPICallError as error:
        if error.response is not None:
            raise from_http(action, error.response, secrets) from None
        raise TransientError(redact(f"GKE {action} failed: {error}", secrets)) from None
    except auth_exceptions.RefreshError as error:
        detail = "the access token was rejected and cannot be refreshed" \
            if static_token else f"credentials rejected: {error}"
        raise AuthenticationError(redact(f"GKE {action} failed: {detail}", secrets)) from None
    except (auth_exceptions.TransportError, requests.RequestException) as error:
        raise TransientError(redact(f"GKE {action} failed: {error}", secrets)) from None
