"""API configuration from the environment (HYBRIDCLOUD_API_*), via pydantic-settings."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network

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
    member_timeout: float = Field(
        default=10.0, gt=0, description="Deadline of each call to a member cluster (the whole "
        "call, however slowly the member answers).")
    platform_namespace: str = Field(
        default="hybridcloud-system", description="The platform's own namespace: /oauth/token "
        "never mints tokens for its ServiceAccounts (nor for kube-* namespaces).")
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(
        default_factory=list, description="CIDRs of reverse proxies whose X-Forwarded-For / "
        "Forwarded headers are believed (JSON list). Empty: the TCP peer is the client address "
        "for rate limits and logs, whatever headers say.")
    # --- webhooks (issue 17): the same rules as the operator's HYBRIDCLOUD_OPERATOR_WEBHOOK_*
    webhook_allow_http: bool = Field(
        default=False, description="Accept http:// webhook URLs (tests, development).")
    webhook_allow_private: bool = Field(
        default=False, description="Accept webhook URLs resolving to loopback, link-local or "
        "private addresses (tests, development).")
    webhook_blocked_cidrs: list[str] = Field(
        default_factory=list, description="JSON list of extra CIDRs a webhook URL may never "
        "resolve to (the cluster's service and pod ranges).")
    events_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between heartbeat comments on GET /v1/events.")
    events_history: int = Field(
        default=10_000, ge=1, description="Events kept in memory for Last-Event-ID resume.")
    # --- end webhooks
    auth_failure_limit: int = Field(
        default=1_000, gt=0, description="Failed authentications (bad bearer tokens, bad "
        "/oauth/token client secrets) allowed per window, per client address and per OAuth "
        "client ID; separate from the callers' own buckets.")
    auth_failure_burst: int = Field(
        default=100, gt=0, description="Failed authentications allowed at once before the "
        "auth-failure buckets throttle (429).")
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest request body accepted (also chunked); "
        "larger ones are refused with 413 before authentication or parsing.")
    max_json_depth: int = Field(
        default=32, gt=0, description="Deepest nesting of JSON arrays/objects accepted in a "
        "request body.")
    # --- admission under overload (issue 19, apiperf; api/overload.py) --------------------------
    max_concurrent_requests: int = Field(
        default=64, ge=0, description="Requests worked on at once; more wait for a slot (0: no "
        "limit). Probes and /metrics are never limited.")
    admission_wait_seconds: float = Field(
        default=0.5, ge=0, description="How long a request waits for a free slot before it is "
        "refused with 503 SERVICE_UNAVAILABLE and Retry-After, so an overloaded API answers "
        "fast instead of queueing for minutes.")
    # --- end of admission under overload ------------------------------------------------------
    docs_enabled: bool = Field(
        default=False, description="Serve the interactive /docs and /redoc pages (on for "
        "`make run`); /openapi.json is always served.")
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Serve /metrics unauthenticated on this separate "
        "port (see `python -m hybridcloud api`); 0: /metrics on the main port, only to callers "
        "Kubernetes RBAC allows `get` on the non-resource URL /metrics.")
    allow_local_sources: bool = Field(
        default=False, description="Accept file:// and path repositories in application "
        "sources (development only; the operator's HYBRIDCLOUD_OPERATOR_ALLOW_LOCAL_SOURCES "
        "must agree). Off: such a source is a 400 naming source.repository.")
    member_credentials_namespace: str = Field(
        default="hybridcloud-system", description="Namespace of the platform's own copies of "
        "member credentials (Secrets `member-<cluster uid>`, written by the operator); tenants "
        "must not be able to write there. Must match the operator's setting.")
    tenant_defaults: TenantRules | None = Field(
        default=None, description="The operator's HYBRIDCLOUD_OPERATOR_TENANT_DEFAULTS (JSON), "
        "so cluster writes in namespaces no TenantPolicy selects are refused up front too; unset: "
        "only namespaces a TenantPolicy selects are checked before writing.")
    # --- logs (issue 15) ---
    logs_url: str | None = Field(
        default=None, description="Base URL of the VictoriaLogs server the operator ships "
        "member logs to; unset: POST /v1/logs/query answers 503.")
    logs_max_limit: int = Field(default=1000, ge=1, le=10_000,
                                description="Largest `limit` of one log query page.")
    logs_timeout: float = Field(default=10.0, gt=0,
                                description="Deadline of each call to the log store.")

    # --- metrics and alerting (issue 14) ---------------------------------------------------
    prometheus_url: str | None = Field(
        default=None, description="Base URL of the Prometheus-compatible query API (Prometheus, "
        "Thanos, Mimir, VictoriaMetrics) behind the metrics endpoints; unset: those endpoints "
        "answer 503 SERVICE_UNAVAILABLE and the cluster details' metrics block stays null.")
    alertmanager_url: str | None = Field(
        default=None, description="Base URL of Alertmanager (API v2) behind GET /v1/alerts.")
    metrics_cluster_label: str = Field(
        default="cluster", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The series label "
        "carrying the cluster ID (set on every target discovery hands out).")
    metrics_tenant_label: str = Field(
        default="tenant", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The series label "
        "carrying the cluster's tenant namespace; every tenant query and rule is confined to it.")
    metrics_timeout: float = Field(
        default=10.0, gt=0, description="Deadline of each call to Prometheus/Alertmanager.")
    metrics_max_points: int = Field(
        default=11_000, gt=0, le=100_000, description="Most points per series a metrics "
        "request may ask for ((end - start) / step); more is a 400 naming `step`.")
    metrics_scrape_address: str | None = Field(
        default=None, description="host:port at which Prometheus reaches this API to scrape "
        "member metrics (the targets discovery lists); unset: the address Prometheus used for "
        "the discovery request.")
    metrics_scrape_local_pods: bool = Field(
        default=False, description="Scrape the annotated pods of `local` members too. Off by "
        "default: `local` members share this host, so the address a tenant's Pod reports is not "
        "confined to that member's network, and the pod proxy could be pointed at other "
        "services of the host (development environments and tests turn it on).")
    metrics_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="How long an answer of GET /v1/clusters/{id}/"
        "metrics for one exact window (cluster, metrics, start, end, step) is reused, and "
        "identical concurrent requests share one computation; 0: every request queries.")
    # --- end of metrics and alerting ---------------------------------------------------------

    # --- alert rules (issue 14) ---------------------------------------------------------------
    rules_file: str | None = Field(
        default=None, description="Rule file this API writes (tenant alert rules, confined to "
        "their tenant's series) for a Prometheus that reads it and reloads on POST /-/reload "
        "(--web.enable-lifecycle); unset: tenant rules are stored but not loaded by this API.")
    rules_sync_seconds: float = Field(
        default=2.0, gt=0, description="How often the rule file is brought up to date with the "
        "PrometheusRule objects labelled platform.example.com/alert-rule=true.")
    # --- end of alert rules ---------------------------------------------------------------------

    # --- git webhook receiver (issue 19) -------------------------------------------------------
    git_hook_secrets_dir: str | None = Field(
        default=None, description="Directory holding the Git webhook secrets, one file per "
        "provider: `github`, `gitlab`, `gitea` (a Secret mounted as a volume). POST "
        "/v1/hooks/git accepts a provider's pushes only when its file exists and the request is "
        "signed with it; unset: every push is refused with 401. Files are re-read on each "
        "request, so a rotated Secret applies without a restart.")
    git_hook_max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest push payload POST /v1/hooks/git accepts "
        "(413 above; never more than HYBRIDCLOUD_API_MAX_BODY_BYTES).")
    git_hook_replay_seconds: float = Field(
        default=600.0, ge=0, description="A signed payload received again within this time is "
        "acknowledged without refreshing anything again.")
    # --- end of git webhook receiver ----------------------------------------------------------
