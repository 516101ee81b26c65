"""The request machinery shared by the sync and async clients: a ``Call`` describes one API
request (built by the resource classes), the transports send it with authentication, retries and
typed errors, then parse the answer into the generated pydantic model."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from .auth import ClientCredentials
from .errors import (
    APIConnectionError,
    APITimeoutError,
    error_from_response,
)

T = TypeVar("T", bound=BaseModel)

# Methods that may be sent twice without a different outcome (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and the model its answer parses into."""

    method: str
    path: str
    model: type[T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # PATCH/POST that set an absolute state (scale to N replicas) are safe to repeat.
    idempotent: bool | None = None
    # Endpoints of the contract this server may not offer yet: 404/405/501 become
    # EndpointNotAvailableError.
    optional_endpoint: bool = False

    @property
    def retryable(self) -> bool:
        return self.idempotent if self.idempotent is not None \
            else self.method in IDEMPOTENT_METHODS


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on 429 and 503 for idempotent requests. The wait is the server's ``Retry-After``
    when it sends one, else the rate-limit reset when no request is left, else exponential
    backoff with jitter; never more than ``max_backoff`` seconds."""

    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0

    def delay(self, attempt: int, response: httpx.Response) -> float:
        hinted = _retry_after(response.headers)
        if hinted is None and response.headers.get("X-RateLimit-Remaining") == "0":
            reset = response.headers.get("X-RateLimit-Reset", "")
            if reset.isdigit():
                hinted = max(0.0, int(reset) - time.time())
        if hinted is not None:
            return min(hinted, self.max_backoff)
        exponential = self.backoff * (2 ** attempt)
        return float(min(self.max_backoff, exponential * (0.5 + random.random() / 2)))  # noqa: S311


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _build_kwargs(call: Call[Any], token: str | None) -> dict[str, Any]:
    headers = dict(call.headers)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    params = {k: v for k, v in call.params.items() if v is not None}
    return {"method": call.method, "url": call.path, "params": params, "json": call.json,
            "headers": headers}


def _parse(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise error_from_response(response, optional_endpoint=call.optional_endpoint)
    return call.model.model_validate(response.json())


def _user_agent() -> str:
    from . import __version__
    return f"hybridcloud-sdk-python/{__version__}"


class SyncTransport:
    def __init__(self, base_url: str, *, api_key: str | None,
                 credentials: ClientCredentials | None, timeout: float,
                 retry: RetryPolicy, http: httpx.Client | None = None) -> None:
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout,
                                         headers={"User-Agent": _user_agent()})
        self.api_key, self.credentials, self.retry = api_key, credentials, retry

    def token(self) -> str | None:
        return self.credentials.token(self.http) if self.credentials else self.api_key

    def send(self, call: Call[T]) -> T:
        attempt, renewed = 0, False
        while True:
            try:
                response = self.http.request(**_build_kwargs(call, self.token()))
            except httpx.TimeoutException as exc:
                raise APITimeoutError(f"{call.method} {call.path} timed out: {exc}") from exc
            except httpx.TransportError as exc:
                raise APIConnectionError(f"cannot reach the API: {exc}") from exc
            if response.status_code in RETRY_STATUSES and call.retryable \
                    and attempt < self.retry.max_retries:
                time.sleep(self.retry.delay(attempt, response))
                attempt += 1
                continue
            if response.status_code == 401 and self.credentials and not renewed:
                self.credentials.invalidate()  # revoked or expired early: one fresh token
                renewed = True
                continue
            return _parse(call, response)

    def close(self) -> None:
        self.http.close()


class AsyncTransport:
    def __init__(self, base_url: str, *, api_key: str | None,
                 credentials: ClientCredentials | None, timeout: float,
                 retry: RetryPolicy, http: httpx.AsyncClient | None = None) -> None:
        self.http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                              headers={"User-Agent": _user_agent()})
        self.api_key, self.credentials, self.retry = api_key, credentials, retry

    async def token(self) -> str | None:
        return await self.credentials.atoken(self.http) if self.credentials else self.api_key

    async def send(self, call: Call[T]) -> T:
        attempt, renewed = 0, False
        while True:
            try:
                response = await self.http.request(**_build_kwargs(call, await self.token()))
            except httpx.TimeoutException as exc:
                raise APITimeoutError(f"{call.method} {call.path} timed out: {exc}") from exc
            except httpx.TransportError as exc:
                raise APIConnectionError(f"cannot reach the API: {exc}") from exc
            if response.status_code in RETRY_STATUSES and call.retryable \
                    and attempt < self.retry.max_retries:
                await asyncio.sleep(self.retry.delay(attempt, response))
                attempt += 1
                continue
            if response.status_code == 401 and self.credentials and not renewed:
                self.credentials.invalidate()
                renewed = True
                continue
            return _parse(call, response)

    async def aclose(self) -> None:
        await self.http.aclose()

