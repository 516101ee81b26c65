"""Azure AD service-principal tokens and the endpoints they may be sent to."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.credentials import AccessToken

from hybridcloud.providers.base import (
    AuthenticationError,
    InvalidConfigurationError,
    TransientError,
    redact,
    retry_after_header,
)

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in LOOPBACK


def check_endpoint(url: str, what: str) -> None:
    # Bearer tokens and client secrets must not cross the network in clear text.
    if not url.startswith("https://") and not is_loopback_http(url):
        raise InvalidConfigurationError(f"{what} {url} must use https (plain http only on "
                                        "loopback)")


class ClientSecretCredential:
    """Azure AD client-credentials grant (azure-identity is not a dependency of hybridcloud)."""

    def __init__(self, authority: str, tenant_id: str, client_id: str, secret: str) -> None:
        self._url = f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._client_id, self._secret = client_id, secret

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        form = {"grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._secret, "scope": " ".join(scopes)}
        try:
            response = httpx.post(self._url, data=form, timeout=30)
        except httpx.HTTPError as exc:
            raise TransientError(f"Azure AD token request failed: {type(exc).__name__}: "
                                 f"{exc}") from None
        if response.status_code == 200:
            body = response.json()
            return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))
        try:
            detail = str(response.json().get("error_description", "")).splitlines()[0]
        except (ValueError, AttributeError, IndexError):
            detail = response.reason_phrase
        detail = redact(detail, (self._secret,))  # should AD ever echo the request
        message = f"Azure AD rejected the service principal: {detail}"
        if response.status_code == 429 or response.status_code >= 500:
            wait = retry_after_header(response.headers)
            raise TransientError(message, retry_after=wait)
        raise AuthenticationError(message)
