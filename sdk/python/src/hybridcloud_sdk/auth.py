"""Credentials: a fixed bearer token (``api_key``) or OAuth 2.0 client credentials, whose token is
fetched from ``/oauth/token`` and fetched again shortly before it expires."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx

from .errors import APIConnectionError, error_from_response

TOKEN_PATH = "/oauth/token"  # noqa: S105  (a path, not a secret)


@dataclass
class ClientCredentials:
    """An OAuth client registered with the platform. The token is renewed once less than
    ``refresh_margin`` seconds (or a tenth of its lifetime, whichever is smaller) remain."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_margin: float = 60.0
    _token: str = field(default="", init=False, repr=False)
    _renew_at: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _alock: asyncio.Lock | None = field(default=None, init=False, repr=False)

    def _form(self) -> dict[str, str]:
        return {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret}

    def _store(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            raise error_from_response(response)
        body = response.json()
        lifetime = float(body["expires_in"])
        self._token = str(body["access_token"])
        self._renew_at = time.monotonic() + lifetime - min(self.refresh_margin, lifetime / 10)
        return self._token

    def _fresh(self) -> bool:
        return bool(self._token) and time.monotonic() < self._renew_at

    def token(self, http: httpx.Client) -> str:
        with self._lock:
            if self._fresh():
                return self._token
            try:
                response = http.post(TOKEN_PATH, data=self._form())
            except httpx.TransportError as exc:
                raise APIConnectionError(f"cannot reach the API for a token: {exc}") from exc
            return self._store(response)

    async def atoken(self, http: httpx.AsyncClient) -> str:
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            if self._fresh():
                return self._token
            try:
                response = await http.post(TOKEN_PATH, data=self._form())
            except httpx.TransportError as exc:
                raise APIConnectionError(f"cannot reach the API for a token: {exc}") from exc
            return self._store(response)

    def invalidate(self) -> None:
        """Forget the token (the API refused it): the next request fetches a new one."""
        self._token, self._renew_at = "", 0.0
