"""Magnum and Keystone failures as the platform's error classes, credentials redacted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc

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


@contextmanager
def translated(action: str, secrets: Sequence[str]) -> Iterator[None]:
    """Translate SDK/keystoneauth failures into the platform's error classes."""
    try:
        yield
    except ProviderError:
        raise
    except (os_exc.HttpException, ks_exc.HttpError) as exc:
        raise http_error(action, exc, secrets) from None
    except (ks_exc.ConnectTimeout, ks_exc.ConnectFailure, ks_exc.UnknownConnectionError,
            ks_exc.DiscoveryFailure) as exc:
        raise TransientError(redact(f"{action}: cannot reach OpenStack: {exc}", secrets)) \
            from None
    except (ks_exc.EndpointNotFound, os_exc.EndpointNotFound,
            os_exc.ServiceDisabledException) as exc:
        raise InvalidConfigurationError(redact(
            f"{action}: no Magnum (container-infra) endpoint in the catalog for this region "
            f"and interface: {exc}", secrets)) from None
    except (ks_exc.ClientException, os_exc.SDKException) as exc:
        raise PermanentError(redact(f"{action}: {exc}", secrets)) from None


def http_error(action: str, exc: Exception, secrets: Sequence[str]) -> ProviderError:
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None) or 0
    detail = _detail(response) or getattr(exc, "details", None) or str(exc)
    message = redact(f"{action}: {detail} (HTTP {status})", secrets)
    lowered = detail.lower()
    wait = retry_after_header(response.headers if response is not None else None)
    if status == 401:
        return AuthenticationError(message)
    if status in (403, 413, 400) and ("quota" in lowered or "limit exceeded" in lowered):
        return QuotaExceededError(message)
    # Magnum answers 400 to changes while an operation runs ('when status is "…"') and to
    # deleting a template whose (deleting) cluster still exists: both resolve themselves.
    if status in (408, 413, 429) or status >= 500 or 'when status is "' in lowered \
            or "is referenced by" in lowered or (status == 409 and "multiple" not in lowered):
        return TransientError(message, retry_after=wait)
    if status == 400:
        return InvalidConfigurationError(message)
    return PermanentError(message)


def _detail(response: Any) -> str | None:
    """Magnum's ``{"errors": [{"detail"}]}`` or Keystone's ``{"error": {"message"}}``."""
    try:
        body = response.json()
    except Exception:  # not JSON (or no response): the exception text will do
        return None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("detail") or errors[0].get("title"))
        if isinstance(body.get("error"), dict):
            return str(body["error"].get("message"))
    return None
