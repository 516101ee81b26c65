"""The development identity's name and rate-limit tier (``HYBRIDCLOUD_DEV_TIER``): what
``make up`` grants the token it writes to ``.run/env``."""

from __future__ import annotations

import json
from collections.abc import Mapping

from ..api.settings import TIER_LIMITS, Tier

DEV_NAMESPACE = "default"
DEV_ACCOUNT = "hybridcloud-dev"
DEV_USERNAME = f"system:serviceaccount:{DEV_NAMESPACE}:{DEV_ACCOUNT}"
DEV_TIER_VARIABLE = "HYBRIDCLOUD_DEV_TIER"
DEFAULT_DEV_TIER = Tier.ENTERPRISE


def dev_tier(environ: Mapping[str, str]) -> Tier:
    """The rate-limit tier of the dev identity: ``HYBRIDCLOUD_DEV_TIER``, else Enterprise."""
    raw = environ.get(DEV_TIER_VARIABLE, "")
    if not raw.strip():
        return DEFAULT_DEV_TIER
    try:
        return Tier(raw.strip().lower())
    except ValueError:
        names = ", ".join(tier.value for tier in Tier)
        raise ValueError(f"{DEV_TIER_VARIABLE}={raw!r} is not a rate-limit tier; use one of "
                         f"{names}") from None


def api_tiers(environ: Mapping[str, str], tier: Tier) -> str:
    """``HYBRIDCLOUD_API_TIERS`` for the dev API: any tiers already configured, plus the dev
    identity's."""
    raw = environ.get("HYBRIDCLOUD_API_TIERS", "")
    try:
        tiers = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"HYBRIDCLOUD_API_TIERS is not valid JSON: {exc}") from None
    if not isinstance(tiers, dict):
        raise ValueError("HYBRIDCLOUD_API_TIERS must be a JSON object of username: tier")
    return json.dumps({**tiers, DEV_USERNAME: tier.value})


def describe_tier(tier: Tier) -> str:
    requests, burst = TIER_LIMITS[tier]
    return f"{tier.value} ({requests:,} requests/h, burst {burst:,})"
