"""Operator configuration from the environment (HYBRIDCLOUD_OPERATOR_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..models import TenantRules


class OperatorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYBRIDCLOUD_OPERATOR_")

    workers: int = Field(default=16, ge=1, description="Concurrent reconciles.")
    application_workers: int = Field(
        default=48, ge=1, description="Concurrent MultiClusterApplication passes. More than "
        "`workers`: a pass mostly waits for member round trips (applies, then the status "
        "write), and a push refreshes every application of a repository at once.")
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
    member_credentials_namespace: str = Field(
        default="hybridcloud-system",
        description="Namespace where the operator keeps its own copy of each member cluster's "
        "credential (Secrets `member-<cluster uid>`); tenants must not be able to write there. "
        "The API reads the same namespace.")
    local_dir: Path = Field(default=Path.home() / ".local/share/hybridcloud/local",
                            description="Where `local` provider clusters keep their state.")
    provider_overrides: dict[str, str] = Field(
        default_factory=dict,
        description='JSON map provider → "module:factory" replacing a built-in adapter.')
    delivery_dir: Path = Field(default=Path.home() / ".cache/hybridcloud/delivery",
                               description="Git mirrors and exported trees of app sources.")
    delivery_poll_interval: float = Field(
        default=5.0, gt=0, description="Seconds between retries of a failed delivery and "
        "checks of a removal under way.")
    rollout_check_interval: float = Field(
        default=30.0, gt=0, description="Seconds between health checks of an app rolling out. "
        "Each member's watches report health changes as they happen and the app's pass follows "
        "within half a second; this only catches a change a watch missed.")
    git_interval: float = Field(default=180.0, gt=0,
                                description="Seconds between re-resolving an app's git revision.")
    allow_local_sources: bool = Field(
        default=False, description="Accept file:// and path repositories. Only for development "
        "and tests: in production one tenant could read another's mirror from the cache.")
    ssh_known_hosts: Path | None = Field(
        default=None, description="known_hosts file trusted for every SSH repository, besides "
        "`knownHosts` in an app's Secret. Unknown hosts are always refused.")
    git_ca_bundle: Path | None = Field(
        default=None, description="PEM bundle of the CAs trusted for https:// repositories "
        "(for git servers behind a private CA); the system bundle when unset.")
    git_timeout: float = Field(default=120.0, gt=0,
                               description="Seconds one git command (fetch, archive) may take.")
    git_low_speed_bytes: int = Field(
        default=1000, ge=1, description="A git HTTP transfer slower than this many bytes/s for "
        "git_low_speed_seconds is aborted.")
    git_low_speed_seconds: int = Field(default=30, ge=1,
                                       description="See git_low_speed_bytes.")
    git_max_fetch_bytes: int = Field(default=512 * 2**20, ge=1,
                                     description="Largest repository mirror, in bytes.")
    git_max_tree_bytes: int = Field(
        default=256 * 2**20, ge=1, description="Largest total size of the files of one "
        "exported commit, in bytes.")
    git_max_tree_files: int = Field(default=20_000, ge=1,
                                    description="Most files in one exported commit.")
    git_fetches_per_namespace: int = Field(
        default=2, ge=1, description="Git fetches of one namespace running at the same time; "
        "more wait (without holding a worker), so slow servers cannot hold every worker.")
    render_max_objects: int = Field(default=5000, ge=1,
                                    description="Most objects one source may render to.")
    render_max_yaml_nodes: int = Field(
        default=2_000_000, ge=1, description="Most YAML nodes one file or render output may "
        "expand to, aliases counted each time they are used (stops alias bombs).")
    render_max_output_bytes: int = Field(
        default=64 * 2**20, ge=1, description="Largest output of helm template or kubectl "
        "kustomize, in bytes.")
    # --- webhooks (issue 17; docs/webhooks.md)
    watched_namespaces: list[str] = Field(
        default_factory=list, description="Set by `hybridcloud operator --namespace`: the "
        "namespaces watched (all when empty).")
    webhook_allow_http: bool = Field(
        default=False, description="Deliver to http:// receivers too (tests, development).")
    webhook_allow_private: bool = Field(
        default=False, description="Deliver to loopback, link-local and private addresses "
        "(tests, development); refused otherwise, at creation and at every delivery.")
    webhook_blocked_cidrs: list[str] = Field(
        default_factory=list, description="JSON list of extra CIDRs never called (the "
        "cluster's service and pod ranges), even when private addresses are allowed.")
    webhook_ca_bundle: str | None = Field(
        default=None, description="PEM bundle trusted for https:// receivers instead of the "
        "system CAs (receivers behind a private CA, tests).")
    webhook_attempt_timeout: float = Field(default=10.0, gt=0,
                                           description="Seconds one delivery attempt may take.")
    webhook_retry_period: float = Field(
        default=3600.0, gt=0, description="Seconds a delivery is retried (exponential backoff "
        "with jitter) before it is marked failed.")
    webhook_backoff_base: float = Field(default=1.0, gt=0,
                                        description="First retry delay in seconds (doubles).")
    webhook_backoff_max: float = Field(default=300.0, gt=0,
                                       description="Longest delay between two attempts.")
    webhook_lanes: int = Field(default=4, ge=1, le=64, description="Parallel deliveries per "
                               "receiver (an object's events always share one, in order).")
    webhook_flush_interval: float = Field(
        default=1.0, gt=0, description="Seconds between batched writes of delivery cursors.")
    # --- end webhooks
    # -- member health (issue 21) ------------------------------------------------------------
    health_probes: bool = Field(
        default=True, description="Probe every Active member's /readyz and node readiness and "
        "mark unreachable members Ready=False (MemberUnreachable / NodesNotReady).")
    health_probe_interval: float = Field(default=5.0, gt=0,
                                         description="Seconds between probes of one member.")
    health_probe_timeout: float = Field(default=5.0, gt=0,
                                        description="Seconds one probe request may take.")
    health_grace_period: float = Field(
        default=40.0, gt=0, description="A member failing its probes is marked Ready=False "
        "within this many seconds of the problem starting.")
    health_recover_after: int = Field(
        default=3, ge=1, description="Consecutive good probes before an unhealthy member is "
        "Ready again (hysteresis: no flapping).")
    health_probe_concurrency: int = Field(default=32, ge=1,
                                          description="Probes in flight at most.")
    health_nodes_interval: float = Field(
        default=15.0, gt=0, description="Seconds between node-readiness listings of one member "
        "(/readyz is probed every interval; the nodes every probe while it is failing).")
    # -- end member health ----------------------------------------------------------------------
    # -- security scans (issue 16; charts/hybridcloud/README.md "Vulnerability database") --
    scanner_trivy_path: Path = Field(
        default=Path("/usr/local/bin/trivy"), description="The Trivy binary scans run; scans "
        "fail with ScannerMissing when it is absent.")
    scanner_cache_dir: Path = Field(
        default=Path.home() / ".cache/trivy", description="Trivy's cache directory; its db/ "
        "holds trivy.db + metadata.json, supplied by the platform's operator (never "
        "downloaded by scans: they run with --skip-db-update --offline-scan).")
    scanner_timeout: float = Field(default=300.0, gt=0,
                                   description="Seconds one Trivy run may take.")
    scanner_insecure_registries: list[str] = Field(
        default_factory=list, description="JSON list of registries (host:port) read over plain "
        "HTTP (a local development registry); every other registry over HTTPS.")
    scanner_private_registries: list[str] = Field(
        default_factory=list, description="JSON list of registries (host or host:port) scans "
        "may contact although they resolve to non-public addresses (an in-cluster or VPC "
        "registry); any other registry resolving to loopback, private, link-local or reserved "
        "addresses is refused (RegistryRefused).")
    scan_workers: int = Field(default=2, ge=1, le=16,
                              description="Scans running at the same time.")
    # -- end security scans --
    tenant_defaults: TenantRules = Field(
        default_factory=TenantRules,
        description="JSON rules (the spec of a TenantPolicy without its selectors) for tenant "
        "namespaces no TenantPolicy selects. Unset: applications write no cluster-scoped "
        "objects, CRDs or kube-* namespaces; clusters need spec.credentialsRef; no quotas.")
    # -- the operator's own metrics (observability/operator_metrics.py) --
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Serve Prometheus metrics on /metrics at this "
        "port; 0: not served.")
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the metrics port listens on: loopback unless "
        "set (the chart sets 0.0.0.0 and admits scrapers through its NetworkPolicy).")
    # --- logs (issue 15) ---
    logs_url: str | None = Field(
        default=None, description="Base URL of the VictoriaLogs server to ship every Active "
        "member's container logs and Events to; unset: no shipping.")
    logs_interval: float = Field(default=1.0, gt=0,
                                 description="Seconds between polls of a member's logs.")
    logs_max_bytes: int = Field(default=1 << 20, ge=4096, description="Most bytes read from "
                                "one container per poll (bounds memory; backlogs take "
                                "several polls).")
    logs_timeout: float = Field(default=10.0, gt=0,
                                description="Deadline of each call to the log store.")
