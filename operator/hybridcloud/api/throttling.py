"""Request budgets: the caller's rate-limit tier and bucket, and the buckets of failed
authentications, spent and checked by the authentication dependency (``deps.current_caller``),
the OAuth token endpoint and the Git webhook receiver.

Split out of ``deps.py`` unchanged (that module re-exports these names, which the routes import
from it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from .errors import APIError
from .proxies import client_address as resolve_client_address
from .ratelimit import RateLimiter, Verdict
from .settings import Settings, Tier

if TYPE_CHECKING:
    from .deps import Caller


def tier_for(request: Request, caller: Caller) -> Tier:
    settings: Settings = request.app.state.settings
    if caller.username in settings.tiers:
        return settings.tiers[caller.username]
    account = caller.service_account
    if account is not None:
        from .oauth import registered_tier  # local: oauth imports this module

        tier = registered_tier(request.app.state.caches.oauth_clients, *account)
        if tier is not None:
            return tier
    return settings.default_tier


def charge(request: Request, key: str, tier: Tier) -> Verdict | None:
    """Spend one request of ``key``'s budget; raise RATE_LIMITED when there is none."""
    settings: Settings = request.app.state.settings
    if not settings.rate_limit_enabled:
        return None
    limiter: RateLimiter = request.app.state.limiter
    verdict = limiter.hit(key, tier)
    request.state.rate_limit = verdict
    if not verdict.allowed:
        raise _rate_limited(verdict, "rate limit exceeded")
    return verdict


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or what trusted proxies forwarded (``proxies.py``)."""
    settings: Settings = request.app.state.settings
    return resolve_client_address(request.client.host if request.client else None,
                                  request.headers, settings.trusted_proxies)


def _rate_limited(verdict: Verdict, what: str) -> APIError:
    return APIError("RATE_LIMITED", f"{what}; retry in {verdict.retry_after}s",
                    details={"limit": verdict.limit, "retry_after": verdict.retry_after},
                    headers=verdict.headers())


def _failure_limits(request: Request) -> tuple[Settings, RateLimiter] | None:
    """The settings and limiter of the auth-failure buckets; None while rate limits are off."""
    settings: Settings = request.app.state.settings
    if not settings.rate_limit_enabled:
        return None
    limiter: RateLimiter = request.app.state.limiter
    return settings, limiter


def refuse_if_failing(request: Request, keys: list[str]) -> None:
    """429 when any of the auth-failure buckets ``keys`` is empty, spending nothing: the work a
    guess costs (TokenReview, scrypt) is not even started."""
    if (limits := _failure_limits(request)) is None:
        return
    settings, limiter = limits
    for key in keys:
        verdict = limiter.check(key, settings.auth_failure_limit, settings.auth_failure_burst)
        if not verdict.allowed:
            request.state.rate_limit = verdict
            raise _rate_limited(verdict, "too many failed authentications")


def record_failure(request: Request, keys: list[str]) -> None:
    """Spend one token of each auth-failure bucket in ``keys``."""
    if (limits := _failure_limits(request)) is None:
        return
    settings, limiter = limits
    for key in keys:
        request.state.rate_limit = limiter.spend(key, settings.auth_failure_limit,
                                                 settings.auth_failure_burst)
