"""Request dependencies: who is calling (TokenReview), may they (SubjectAccessReview), in which
tenant namespace, and within which rate limit.

Authentication. The API holds no users of its own: bearer tokens are validated by the Kubernetes
API, so ServiceAccount tokens, OIDC tokens and the tokens minted by ``POST /oauth/token`` all
work. Answers are cached briefly (keyed by a hash of the token, never the token itself).

Tenancy. A tenant is a namespace. A caller works in its ServiceAccount's namespace by default
(other identities in ``HYBRIDCLOUD_API_DEFAULT_NAMESPACE``); ``?namespace=`` or the
``X-Tenant-Namespace`` header chooses another. Every call is checked with a SubjectAccessReview
for the caller in the namespace involved, so Kubernetes RBAC decides and tenant A never sees or
touches tenant B's objects.

Rate limits. After authentication each caller spends a token from its bucket (see
``ratelimit.py``; the charging and the auth-failure buckets live in ``throttling.py``); the tier
comes from configuration (``HYBRIDCLOUD_API_TIERS``), else from the OAuth client registration
mapped to the caller's ServiceAccount, else the default tier.

Failed authentications spend from buckets of their own (``auth-failure:*``, sized by
``HYBRIDCLOUD_API_AUTH_FAILURE_LIMIT``/``_BURST``): per client address for bearer tokens, per
address and per client ID for ``/oauth/token``. Once such a bucket is empty, a token the API has
not seen succeed recently is refused with 429 before any TokenReview is sent, so guessing is
throttled; tokens that authenticated within the last hour skip that gate, so a brute force from
a shared address (NAT, proxy) never locks out callers that already hold a good token.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx2
from cachetools import TTLCache
from fastapi import Depends, Header, Query, Request
from lightkube import AsyncClient
from lightkube.models.authentication_v1 import TokenReviewSpec
from lightkube.models.authorization_v1 import (
    NonResourceAttributes,
    ResourceAttributes,
    SubjectAccessReviewSpec,
)
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.authorization_v1 import SubjectAccessReview
from prometheus_client import Counter

from .. import GROUP
from ..events.stream import EventHub
from ..kube.cache import WatchCache
from ..kube.member_credentials import MemberClients as PlatformCopyClients
from ..kube.tenants import TenantBook
from ..kube.wire import KubeWire
from ..observability.alertmanager import AlertmanagerClient
from ..observability.logstore import LogStore
from ..observability.range_cache import RangeCache
from ..observability.scoping import Scoper
from .errors import APIError
from .hook_replay import RecentPayloads
from .kubecall import kube_call as kube_call  # re-exported: routes import it from here
from .listing import ClusterPages
from .member import MemberClients
from .settings import Settings
from .single_flight import SingleFlight
from .stats import RequestStats
from .throttling import charge as charge
from .throttling import client_address as client_address
from .throttling import record_failure as record_failure
from .throttling import refuse_if_failing as refuse_if_failing
from .throttling import tier_for as tier_for

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
TENANT_HEADER = "X-Tenant-Namespace"
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# How long a token that authenticated keeps skipping the auth-failure gate of its address.
_VOUCHED_SECONDS = 3600.0

TOKEN_REVIEWS = Counter("hybridcloud_api_token_reviews_total",
                        "TokenReviews sent to authenticate callers, by outcome.", ["result"])


@dataclass(frozen=True)
class Caller:
    username: str
    uid: str
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...]
    home_namespace: str

    @property
    def key(self) -> str:
        """Stable identity for per-caller accounting (rate limits): the user, not the token."""
        return self.username

    @property
    def service_account(self) -> tuple[str, str] | None:
        if not self.username.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.username[len(SERVICE_ACCOUNT_PREFIX):].partition(":")
        return namespace, name


# Bounds memory under token churn; the least recently used answers go first.
_CACHED_ANSWERS = 10_000
# A denial is remembered at most this long: a RoleBinding just created must take effect (as
# it does for kubectl) after the apiserver's own RBAC propagation, not after the whole allow TTL.
# Short, not zero: a caller hammering a forbidden route still costs few SubjectAccessReviews.
_DENIAL_SECONDS = 1.0


class Authenticator:
    """TokenReview + SubjectAccessReview against the Kubernetes API, with a short cache."""

    def __init__(self, client: AsyncClient, settings: Settings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.settings = settings
        self._identities: TTLCache[str, Caller] = TTLCache(_CACHED_ANSWERS,
                                                           settings.auth_cache_seconds)
        self._decisions: TTLCache[Any, bool] = TTLCache(
            _CACHED_ANSWERS, settings.auth_cache_seconds, timer=clock)
        self._denials: TTLCache[Any, bool] = TTLCache(
            _CACHED_ANSWERS, min(_DENIAL_SECONDS, settings.auth_cache_seconds), timer=clock)
        self._vouched: TTLCache[str, bool] = TTLCache(_CACHED_ANSWERS, _VOUCHED_SECONDS)
        # Reviews in flight, shared by concurrent requests that missed the caches together.
        self._identity_flights: SingleFlight[Caller | None] = SingleFlight()
        self._decision_flights: SingleFlight[bool] = SingleFlight()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def vouched(self, token: str) -> bool:
        """Whether ``token`` authenticated recently (it is still reviewed before use)."""
        return self._vouched.get(self._digest(token)) is not None

    async def authenticate(self, token: str) -> Caller | None:
        """The caller the token belongs to, or None when Kubernetes does not accept it."""
        digest = self._digest(token)
        cached = self._identities.get(digest)
        if cached is not None:
            return cached
        return await self._identity_flights.run(digest, lambda: self._token_review(token, digest))

    async def _token_review(self, token: str, digest: str) -> Caller | None:
        review = await kube_call(self.client.create(TokenReview(spec=TokenReviewSpec(token=token))))
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            TOKEN_REVIEWS.labels("rejected").inc()
            return None
        TOKEN_REVIEWS.labels("authenticated").inc()
        user = status.user
        username = user.username or ""
        home = self.settings.default_namespace
        if username.startswith(SERVICE_ACCOUNT_PREFIX):
            home = username[len(SERVICE_ACCOUNT_PREFIX):].split(":", 1)[0]
        caller = Caller(
            username=username, uid=user.uid or "", groups=tuple(user.groups or ()),
            extra=tuple(sorted((k, tuple(v)) for k, v in (user.extra or {}).items())),
            home_namespace=home)
        self._identities[digest] = caller
        self._vouched[digest] = True
        return caller

    async def allowed(self, caller: Caller, verb: str, resource: str, namespace: str | None,
                      *, name: str | None = None, group: str = GROUP,
                      subresource: str | None = None) -> bool:
        return await self._review(
            caller, (verb, resource, namespace, name, group, subresource),
            resource=ResourceAttributes(verb=verb, group=group, resource=resource,
                                        namespace=namespace, name=name,
                                        subresource=subresource))

    async def allowed_path(self, caller: Caller, verb: str, path: str) -> bool:
        """SubjectAccessReview for a non-resource URL (e.g. ``get /metrics``)."""
        return await self._review(caller, (verb, "nonResource", path),
                                  path=NonResourceAttributes(verb=verb, path=path))

    async def _review(self, caller: Caller, what: tuple[object, ...], *,
                      resource: ResourceAttributes | None = None,
                      path: NonResourceAttributes | None = None) -> bool:
        """One SubjectAccessReview per (caller, question), remembered for the cache's TTL."""
        key = (caller, *what)
        if key in self._decisions:
            return True
        if key in self._denials:
            return False
        return await self._decision_flights.run(
            key, lambda: self._subject_access_review(key, caller, resource, path))

    async def _subject_access_review(self, key: tuple[object, ...], caller: Caller,
                                     resource: ResourceAttributes | None,
                                     path: NonResourceAttributes | None) -> bool:
        review = SubjectAccessReview(spec=SubjectAccessReviewSpec(
            user=caller.username, uid=caller.uid or None, groups=list(caller.groups),
            extra={k: list(v) for k, v in caller.extra} or None,
            resourceAttributes=resource, nonResourceAttributes=path))
        answer = await kube_call(self.client.create(review))
        allowed = bool(answer.status and answer.status.allowed)
        (self._decisions if allowed else self._denials)[key] = allowed
        return allowed

    async def require(self, caller: Caller, verb: str, resource: str, namespace: str | None,
                      **kwargs: Any) -> None:
        if not await self.allowed(caller, verb, resource, namespace, **kwargs):
            what = resource + (f"/{kwargs['subresource']}" if kwargs.get("subresource") else "")
            where = f" in namespace {namespace!r}" if namespace else ""
            raise APIError("FORBIDDEN", f"{caller.username} may not {verb} {what}{where}",
                           details={"verb": verb, "resource": what, "namespace": namespace})


@dataclass
class Caches:
    clusters: WatchCache
    applications: WatchCache
    oauth_clients: WatchCache
    tenants: TenantBook  # TenantPolicies + namespace labels: limits checked up front
    webhooks: WatchCache | None = None  # WebhookSubscriptions (routes/webhooks.py)
    # GET /v1/clusters pages from summaries rendered once per object version (listing.py).
    cluster_pages: ClusterPages = field(init=False)

    def __post_init__(self) -> None:
        self.cluster_pages = ClusterPages(self.clusters)

    def all(self) -> list[WatchCache]:
        return [self.clusters, self.applications, self.oauth_clients, self.tenants.policies,
                self.tenants.namespaces, *([self.webhooks] if self.webhooks is not None else [])]


# Dependencies are ``async def`` even when they do no I/O: FastAPI runs plain ``def`` ones in a
# thread pool, a thread hop per dependency per request (the largest cost of a cached GET in
# the REST benchmark's profile).


def _from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency answering ``app.state.<name>``, which ``api/app.py`` sets at startup."""
    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)
    dependency.__name__ = name
    return dependency


authenticator = _from_state("authenticator")
caches = _from_state("caches")
kube_client = _from_state("kube")  # the API's own client, never the caller's identity
api_settings = _from_state("settings")
member_clients = _from_state("members")
request_stats = _from_state("stats")


async def current_caller(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Caller:
    # The authenticator is read here rather than taken as a dependency: every route depends on
    # this function (often twice, through tenant_namespace), and FastAPI solves a dependency's
    # own dependencies again on each use before consulting its per-request cache.
    auth: Authenticator = request.app.state.authenticator
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    failures = [f"auth-failure:address:{client_address(request)}"]
    caller = None
    if token:
        if not auth.vouched(token):
            refuse_if_failing(request, failures)
        caller = await auth.authenticate(token)
    if caller is None:
        record_failure(request, failures)
        message = ("invalid or expired token" if token
                   else "missing bearer token (Authorization: Bearer <token>)")
        raise APIError("UNAUTHORIZED", message, headers={
            "WWW-Authenticate": 'Bearer error="invalid_token"' if token else "Bearer"})
    charge(request, f"user:{caller.key}", tier_for(request, caller))
    request.state.caller = caller
    return caller


async def tenant_namespace(
    caller: Annotated[Caller, Depends(current_caller)],
    namespace: Annotated[str | None, Query(
        description="Tenant namespace; defaults to the caller's ServiceAccount namespace.",
        max_length=63)] = None,
    x_tenant_namespace: Annotated[str | None, Header(
        description="Tenant namespace (alternative to ?namespace=).", max_length=63)] = None,
) -> str:
    chosen = namespace or x_tenant_namespace or caller.home_namespace
    if not _NAMESPACE.match(chosen):
        raise APIError("INVALID_REQUEST", f"namespace {chosen!r} is not a valid namespace name",
                       details={"field": "namespace"})
    return chosen


CallerDep = Annotated[Caller, Depends(current_caller)]
AuthDep = Annotated[Authenticator, Depends(authenticator)]
TenantDep = Annotated[str, Depends(tenant_namespace)]
CachesDep = Annotated[Caches, Depends(caches)]
KubeDep = Annotated[AsyncClient, Depends(kube_client)]
SettingsDep = Annotated[Settings, Depends(api_settings)]
MembersDep = Annotated[MemberClients, Depends(member_clients)]
StatsDep = Annotated[RequestStats, Depends(request_stats)]

# -- backends of the metrics, alerts, logs, security, events and webhook routes (issue 12) -------
# Routes reach ``app.state`` only through these aliases (tests/unit/test_api_state_access.py).
# The optional backends are None when the server is not configured with one; routes then answer
# 503 SERVICE_UNAVAILABLE themselves, after authentication and authorization, as before.


def _optional_from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency answering ``app.state.<name>``, or None when the app never set it."""
    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name, None)
    dependency.__name__ = name
    return dependency


ScoperDep = Annotated[Scoper | None, Depends(_optional_from_state("scoper"))]  # Prometheus
AlertmanagerDep = Annotated[AlertmanagerClient | None,
                            Depends(_optional_from_state("alertmanager"))]
LogStoreDep = Annotated[LogStore | None, Depends(_optional_from_state("logs"))]
# Member clients built from the platform's copy of each credential, for the scrape proxy.
ScrapeClientsDep = Annotated[PlatformCopyClients[httpx2.AsyncClient],
                             Depends(_from_state("scrape_clients"))]
# ``local`` members' simulated kubelets, trusted by each member's own CA (node metrics).
KubeletClientsDep = Annotated[PlatformCopyClients[httpx2.AsyncClient],
                              Depends(_from_state("kubelet_clients"))]


@dataclass(frozen=True)
class MetricsBackends:
    """What ``GET /v1/clusters/{id}/metrics`` reads, as one dependency instead of five.

    FastAPI solves every dependency with a full pass of its own (path, query, header and cookie
    parameters, cache key); the metrics benchmark's profile (``bench/metrics_cases.py``) showed
    that resolution as the largest cost of an answer the range cache already holds."""

    auth: Authenticator
    caches: Caches
    settings: Settings
    scoper: Scoper | None  # None: no Prometheus configured
    answers: RangeCache


async def metrics_backends(request: Request) -> MetricsBackends:
    state = request.app.state
    return MetricsBackends(auth=state.authenticator, caches=state.caches,
                           settings=state.settings, scoper=getattr(state, "scoper", None),
                           answers=state.metrics_answers)


MetricsBackendsDep = Annotated[MetricsBackends, Depends(metrics_backends)]


@dataclass(frozen=True)
class ClusterReads:
    """What ``GET /v1/clusters`` and ``GET /v1/clusters/{id}`` use besides the caller and the
    tenant, as one dependency instead of four (as ``MetricsBackends``; issue 19, apiperf)."""

    auth: Authenticator
    caches: Caches
    settings: Settings
    scoper: Scoper | None  # None: no Prometheus configured


async def cluster_reads(request: Request) -> ClusterReads:
    state = request.app.state
    return ClusterReads(auth=state.authenticator, caches=state.caches, settings=state.settings,
                        scoper=getattr(state, "scoper", None))


ClusterReadsDep = Annotated[ClusterReads, Depends(cluster_reads)]
GitHookPayloadsDep = Annotated[RecentPayloads, Depends(_from_state("git_hook_payloads"))]
GitHookWireDep = Annotated[KubeWire, Depends(_from_state("git_hook_wire"))]
SecurityPoliciesDep = Annotated[WatchCache, Depends(_from_state("security_policies"))]
SecurityScansDep = Annotated[WatchCache, Depends(_from_state("security_scans"))]
VulnerabilityReportsDep = Annotated[WatchCache, Depends(_from_state("vulnerability_reports"))]
EventHubDep = Annotated[EventHub, Depends(_from_state("event_hub"))]
