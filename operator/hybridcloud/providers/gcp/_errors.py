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


def error_class(code: int, status: str, message: str) -> type[ProviderError]:
    """The operator's error class for an HTTP code, google.rpc status and message."""
    lowered = message.lower()
    if code in (408, 429) or code >= 500 \
            or status in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED") \
            or (status == "FAILED_PRECONDITION" and "operation" in lowered):
        return TransientError  # throttled, down, or another operation holds the cluster
    if code == 401 or status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return AuthenticationError
    if status == "RESOURCE_EXHAUSTED" or "quota" in lowered:
        return QuotaExceededError
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
    text = redact(f"GKE {action} failed: {message} "
                  f"({f'{response.status_code} {status}'.strip()})", secrets)
    kind = error_class(response.status_code, status, message)
    if issubclass(kind, TransientError):
        return kind(text, retry_after=retry_after_header(response.headers))
    return kind(text)


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
