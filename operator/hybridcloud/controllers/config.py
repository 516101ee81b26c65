"""Operator configuration from the environment (HYBRIDCLOUD_OPERATOR_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..models import TenantRules


class OperatorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYBRIDCLOUD_OPERATOR_")

    workers: int = Field(default=16, ge=1, description="Concurrent reconciles.")
    provider_threads: int = Field(default=32, ge=1,
                                  description="Threads for blocking cloud SDK calls.")
    poll_interval: float = Field(default=10.0, gt=0,
                                 description="Seconds between checks while a provider works.")
    resync_interval: float = Field(default=300.0, gt=0,
                                   description="Seconds between drift checks of converged objects.")
    stalled_retry: float = Field(default=300.0, gt=0,
                                 description="Seconds before retrying after a permanent error.")
    status_grace: float = Field(
        default=0.5, ge=0,
        description="Seconds a provider call may take before the status it leads to is written "
        "while it runs; quicker calls are followed by one write of what the provider reports.")
    kubeconfig_refresh_margin: float = Field(
        default=300.0, ge=0, description="Refresh kubeconfig Secrets this long before expiry.")
    credentials_namespace: str = Field(
        default="hybridcloud-system",
        description="Namespace of the default credentials Secrets "
        "`hybridcloud-<provider>-credentials`, used when spec.credentialsRef is absent.")
    local_dir: Path = Field(default=Path.home() / ".local/share/hybridcloud/local",
                            description="Where `local` provider clusters keep their state.")
    provider_overrides: dict[str, str] = Field(
        default_factory=dict,
        description='JSON map provider → "module:factory" replacing a built-in adapter.')
    delivery_dir: Path = Field(default=Path.home() / ".cache/hybridcloud/delivery",
                               description="Git mirrors and exported trees of app sources.")
    delivery_poll_interval: float = Field(
        default=5.0, gt=0, description="Seconds between health checks while an app rolls out.")
    git_interval: float = Field(default=180.0, gt=0,
                                description="Seconds between re-resolving an app's git revision.")
    tenant_defaults: TenantRules = Field(
        default_factory=TenantRules,
        description="JSON rules (the spec of a TenantPolicy without its selectors) for tenant "
        "namespaces no TenantPolicy selects. Unset: applications write no cluster-scoped "
        "objects, CRDs or kube-* namespaces; clusters need spec.credentialsRef; no quotas.")
