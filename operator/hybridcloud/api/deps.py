"""Request dependencies: who is calling (TokenReview) and may they (SubjectAccessReview).

The API holds no users of its own: bearer tokens are validated by the Kubernetes API, so
ServiceAccount tokens, OIDC tokens and the tokens minted by ``POST /oauth/token`` all work, and
every decision is Kubernetes RBAC's. Answers are cached briefly (keyed by a hash of the token,
never the token itself) so a busy client does not double the apiserver's load.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import httpx2
from fastapi import Depends, Header, Request
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import TokenReviewSpec
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.authorization_v1 import SubjectAccessReview

from .. import GROUP
from .errors import APIError
from .settings import Settings

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Caller:
    username: str
    uid: str
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...]
    home_namespace: str

    @property
    def key(self) -> str:
        """Stable identity for per-caller accounting (rate limits)."""
        return self.uid or self.username


class _TTLCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        hit = self._entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._entries) > 10_000:  # bound memory under token churn
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)


class Authenticator:
    """TokenReview + SubjectAccessReview against the Kubernetes API, with a short cache."""

    def __init__(self, client: AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._identities = _TTLCache(settings.auth_cache_seconds)
        self._decisions = _TTLCache(settings.auth_cache_seconds)

    async def authenticate(self, token: str) -> Caller:
        digest = hashlib.sha256(token.encode()).hexdigest()
        cached = self._identities.get(digest)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        review = await kube_call(self.client.create(TokenReview(spec=TokenReviewSpec(token=token))))
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            raise APIError("UNAUTHORIZED", "invalid or expired token",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        user = status.user
        username = user.username or ""
        home = self.settings.default_namespace
        if username.startswith(SERVICE_ACCOUNT_PREFIX):
            home = username[len(SERVICE_ACCOUNT_PREFIX):].split(":", 1)[0]
        caller = Caller(
            username=username, uid=user.uid or "", groups=tuple(user.groups or ()),
            extra=tuple(sorted((k, tuple(v)) for k, v in (user.extra or {}).items())),
            home_namespace=home)
        self._identities.put(digest, caller)
        return caller

    async def allowed(self, caller: Caller, verb: str, resource: str, namespace: str | None,
                      *, name: str | None = None, group: str = GROUP,
                      subresource: str | None = None) -> bool:
        key = (caller, verb, resource, namespace, name, group, subresource)
        cached = self._decisions.get(key)
        if cached is not None:
            return bool(cached)
        review = SubjectAccessReview(spec=SubjectAccessReviewSpec(
            user=caller.username, uid=caller.uid or None, groups=list(caller.groups),
            extra={k: list(v) for k, v in caller.extra} or None,
            resourceAttributes=ResourceAttributes(
                verb=verb, group=group, resource=resource, namespace=namespace, name=name,
                subresource=subresource)))
        answer = await kube_call(self.client.create(review))
        allowed = bool(answer.status and answer.status.allowed)
        self._decisions.put(key, allowed)
        return allowed

    async def require(self, caller: Caller, verb: str, resource: str, namespace: str | None,
                      **kwargs: Any) -> None:
        if not await self.allowed(caller, verb, resource, namespace, **kwargs):
            where = f" in namespace {namespace!r}" if namespace else ""
            raise APIError("FORBIDDEN", f"{caller.username} may not {verb} {resource}{where}",
                           details={"verb": verb, "resource": resource, "namespace": namespace})


async def kube_call(call: Any) -> Any:
    """Await a Kubernetes call, mapping an unreachable apiserver to SERVICE_UNAVAILABLE."""
    try:
        return await call
    except (httpx.TransportError, httpx2.TransportError, TimeoutError) as exc:
        raise APIError("SERVICE_UNAVAILABLE", "the Kubernetes API is unreachable; retry later",
                       headers={"Retry-After": "5"}) from exc
    except ApiError as exc:
        if exc.status.code is not None and exc.status.code >= 500:
            raise APIError("SERVICE_UNAVAILABLE", "the Kubernetes API is unavailable; retry later",
                           headers={"Retry-After": "5"}) from exc
        raise


def authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.authenticator
    return auth


async def current_caller(
    request: Request,
    auth: Annotated[Authenticator, Depends(authenticator)],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Caller:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError("UNAUTHORIZED", "missing bearer token (Authorization: Bearer <token>)",
                       headers={"WWW-Authenticate": "Bearer"})
    caller = await auth.authenticate(token.strip())
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]
AuthDep = Annotated[Authenticator, Depends(authenticator)]
