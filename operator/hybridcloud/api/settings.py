"""API configuration from the environment (HYBRIDCLOUD_API_*), via pydantic-settings."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..models import TenantRules


class Tier(StrEnum):
    BASIC = "basic"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


# The contract's tiers: (requests per window, burst).
TIER_LIMITS: dict[Tier, tuple[int, int]] = {
    Tier.BASIC: (1_000, 100),
    Tier.PROFESSIONAL: (10_000, 500),
    Tier.ENTERPRISE: (100_000, 2_000),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYBRIDCLOUD_API_")

    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig of the API's own identity; in-cluster when unset.")
    default_namespace: str = Field(
        default="default",
        description="Namespace used when neither the request nor the caller's identity names one.")
    auth_cache_seconds: float = Field(
        default=10.0, ge=0, description="How long TokenReview/SubjectAccessReview answers are "
        "reused; revocations take effect within this time.")
    default_tier: Tier = Field(default=Tier.BASIC,
                               description="Rate-limit tier of callers without another one.")
    tiers: dict[str, Tier] = Field(
        default_factory=dict, description="Rate-limit tier per Kubernetes username (JSON), e.g. "
        '{"system:serviceaccount:acme:ci": "enterprise"}; wins over OAuth registrations.')
    rate_limit_window_seconds: float = Field(
        default=3600.0, gt=0, description="The window the tiers' request counts apply to (an "
        "hour in production; shorter in tests).")
    rate_limit_enabled: bool = Field(default=True, description="Switch rate limiting off.")
    oauth_namespace: str = Field(
        default="hybridcloud-system", description="Namespace holding OAuth client registrations "
        "(Secrets labelled platform.example.com/oauth-client=true).")
    oauth_token_seconds: int = Field(
        default=3600, ge=600, le=86400, description="Lifetime of access tokens from "
        "/oauth/token (the TokenRequest API's minimum is 600).")
    consistency_timeout: float = Field(
        default=5.0, gt=0, description="How long a write waits for the watch cache to catch up "
        "(read-your-writes) before answering from the write's own response.")
    cache_sync_timeout: float = Field(
        default=30.0, gt=0, description="Startup wait for the first LIST of each cache.")
    member_timeout: float = Field(default=10.0, gt=0,
                                  description="Timeout of calls to member clusters.")
    tenant_defaults: TenantRules | None = Field(
        default=None, description="The operator's HYBRIDCLOUD_OPERATOR_TENANT_DEFAULTS (JSON), "
        "so cluster writes in namespaces no TenantPolicy selects are refused up front too; unset: "
        "only namespaces a TenantPolicy selects are checked before writing.")
