"""The Helm chart renders, lints, validates its values and produces the objects it promises.

Runs the project's own helm binary (``helm lint``/``helm template``: no cluster needed).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridcloud import admission

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "hybridcloud"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RECOMMENDED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                      "app.kubernetes.io/version", "app.kubernetes.io/managed-by",
                      "app.kubernetes.io/part-of", "app.kubernetes.io/component")
Render = Callable[..., list[dict[str, Any]]]


def helm(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "helm"), *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture(scope="module")
def render(bin_dir: Path) -> Render:
    def run(*args: str) -> list[dict[str, Any]]:
        answer = helm(bin_dir, "template", "hybridcloud", str(CHART), "--namespace", "hc-system",
                      *args)
        assert answer.returncode == 0, answer.stderr
        return [doc for doc in yaml.safe_load_all(answer.stdout) if doc]
    return run


def fails(bin_dir: Path, *args: str) -> str:
    answer = helm(bin_dir, "template", "hybridcloud", str(CHART), *args)
    assert answer.returncode != 0, f"helm accepted {args}"
    return answer.stderr


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


# -- lint and render ------------------------------------------------------------------------------

@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda v: v.name if v else "defaults")
def test_helm_lint_strict_passes(bin_dir: Path, values: Path | None) -> None:
    answer = helm(bin_dir, "lint", "--strict", str(CHART), *(["-f", str(values)] if values else []))
    assert answer.returncode == 0, answer.stdout + answer.stderr


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda v: v.name if v else "defaults")
def test_every_rendered_object_carries_the_recommended_labels(render: Render,
                                                               values: Path | None) -> None:
    objects = render(*(["-f", str(values)] if values else []))
    assert objects
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        missing = [k for k in RECOMMENDED_LABELS if k not in labels]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"


def test_defaults_render_the_complete_install(render: Render) -> None:
    kinds = sorted({(o["kind"], o["metadata"]["name"]) for o in render()})
    assert kinds == sorted([
        ("CustomResourceDefinition", "hybridclusters.platform.example.com"),
        ("CustomResourceDefinition", "multiclusterapplications.platform.example.com"),
        ("CustomResourceDefinition", "tenantpolicies.platform.example.com"),
        ("CustomResourceDefinition", "securitypolicies.platform.example.com"),
        ("CustomResourceDefinition", "webhooksubscriptions.platform.example.com"),
        ("CustomResourceDefinition", "securityscans.platform.example.com"),
        ("CustomResourceDefinition", "vulnerabilityreports.platform.example.com"),
        ("CustomResourceDefinition", "configauditreports.platform.example.com"),
        ("ServiceAccount", "hybridcloud-operator"), ("ServiceAccount", "hybridcloud-api"),
        ("Deployment", "hybridcloud-operator"), ("Deployment", "hybridcloud-api"),
        ("Service", "hybridcloud-api"), ("PodDisruptionBudget", "hybridcloud-api"),
        ("NetworkPolicy", "hybridcloud-operator"), ("NetworkPolicy", "hybridcloud-api"),
        ("ClusterRole", "hybridcloud-operator"), ("ClusterRole", "hybridcloud-operator-discovery"),
        ("ClusterRoleBinding", "hybridcloud-operator"),
        ("ClusterRoleBinding", "hybridcloud-operator-discovery"),
        ("ClusterRole", "hybridcloud-api"), ("ClusterRoleBinding", "hybridcloud-api"),
        ("ClusterRole", "hybridcloud-api-metrics-scraper"),  # issue 14: for Prometheus
        ("Role", "hybridcloud-api-oauth-clients"),
        ("RoleBinding", "hybridcloud-api-oauth-clients"),
        ("Role", "hybridcloud-api-member-credentials"),
        ("RoleBinding", "hybridcloud-api-member-credentials"),
        ("Role", "hybridcloud-operator-member-credentials"),
        ("RoleBinding", "hybridcloud-operator-member-credentials"),
        *[("ClusterRole", f"hybridcloud-{kind}-{role}")
          for kind in ("hybridcluster", "multiclusterapplication", "securitypolicy",
                       "webhooksubscription",
                       # scans (issue 16)
                       "securityscan", "vulnerabilityreport", "configauditreport")
          for role in ("admin", "editor", "viewer")],
    ])


# -- values.schema.json ---------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "where"), [
    ("opertor.enabled=true", "additional properties 'opertor' not allowed"),
    ("api.servce.port=80", "'servce' not allowed"),
    ("operator.config.wrokers=4", "'wrokers' not allowed"),
    ("api.config.authCacheSecond=5", "'authCacheSecond' not allowed"),
    ("metrics.serviceMonitor.enable=true", "'enable' not allowed"),
])
def test_schema_rejects_a_misspelled_key_and_names_it(bin_dir: Path, setting: str,
                                                      where: str) -> None:
    assert where in fails(bin_dir, "--set", setting)


@pytest.mark.parametrize(("setting", "field"), [
    ("api.replicas=-1", "/api/replicas"),
    ("api.replicas=two", "/api/replicas"),
    ("image.tag=latest", "/image/tag"),
    ("operator.config.workers=0", "/operator/config/workers"),
    ("api.config.defaultTier=platinum", "/api/config/defaultTier"),
    ("operator.watchNamespaces[0]=Not_A_Namespace", "/operator/watchNamespaces/0"),
])
def test_schema_rejects_bad_values_naming_the_field(bin_dir: Path, setting: str,
                                                   field: str) -> None:
    assert field in fails(bin_dir, "--set", setting)


# -- workloads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["hybridcloud-operator", "hybridcloud-api"])
def test_pods_meet_the_restricted_pod_security_standard(render: Render, name: str) -> None:
    pod = one(render(), "Deployment", name)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]
        # Read-only root: every path the process writes is a volume.
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


def test_operator_is_a_single_replica_recreated_with_a_kopf_liveness_probe(render: Render) -> None:
    deployment = one(render(), "Deployment", "hybridcloud-operator")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["operator", "--health-port=8080"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    env = env_of(deployment)
    assert env["HYBRIDCLOUD_OPERATOR_CREDENTIALS_NAMESPACE"] == "hc-system"
    assert env["HYBRIDCLOUD_OPERATOR_LOCAL_DIR"].startswith("/var/lib/hybridcloud/")
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/var/lib/hybridcloud" in mounts


def test_api_is_scalable_behind_a_service_with_readiness_and_liveness(render: Render) -> None:
    objects = render("--set", "api.replicas=4")
    deployment = one(objects, "Deployment", "hybridcloud-api")
    assert deployment["spec"]["replicas"] == 4
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["api", "--host=0.0.0.0", "--port=8000", "--log-level=info"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = one(objects, "Service", "hybridcloud-api")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    pdb = one(objects, "PodDisruptionBudget", "hybridcloud-api")
    assert pdb["spec"]["selector"]["matchLabels"] == selector


def test_autoscaling_hands_the_replica_count_to_an_hpa(render: Render) -> None:
    objects = render("--set", "api.autoscaling.enabled=true")
    assert "replicas" not in one(objects, "Deployment", "hybridcloud-api")["spec"]
    hpa = one(objects, "HorizontalPodAutoscaler", "hybridcloud-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "hybridcloud-api"


def test_config_maps_become_the_settings_environment_variables(render: Render) -> None:
    objects = render("--set", "operator.config.workers=4",
                     "--set", "operator.config.credentialsNamespace=creds",
                     "--set", "operator.config.resyncInterval=1000000",
                     "--set-json", 'api.config.tiers={"ci": "enterprise"}',
                     "--set", "api.config.rateLimitEnabled=false",
                     "--set", "api.config.defaultNamespace=tenants")
    operator = env_of(one(objects, "Deployment", "hybridcloud-operator"))
    assert operator["HYBRIDCLOUD_OPERATOR_WORKERS"] == "4"
    assert operator["HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL"] == "1000000"  # never 1e+06
    assert operator["HYBRIDCLOUD_OPERATOR_CREDENTIALS_NAMESPACE"] == "creds"
    api = env_of(one(objects, "Deployment", "hybridcloud-api"))
    assert api["HYBRIDCLOUD_API_TIERS"] == '{"ci":"enterprise"}'
    assert api["HYBRIDCLOUD_API_RATE_LIMIT_ENABLED"] == "false"
    assert api["HYBRIDCLOUD_API_DEFAULT_NAMESPACE"] == "tenants"


def test_config_env_is_what_the_settings_models_actually_read(render: Render,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from hybridcloud.api.settings import Settings
    from hybridcloud.controllers.config import OperatorConfig

    objects = render("--set", "operator.config.workers=3",
                     "--set", "operator.config.kubeconfigRefreshMargin=42",
                     "--set-json", 'operator.config.providerOverrides={"aws": "m:f"}',
                     "--set", "api.config.authCacheSeconds=7",
                     "--set-json", 'api.config.tiers={"ci": "enterprise"}')
    for name, value in {**env_of(one(objects, "Deployment", "hybridcloud-operator")),
                        **env_of(one(objects, "Deployment", "hybridcloud-api"))}.items():
        monkeypatch.setenv(name, value)
    operator = OperatorConfig()
    assert (operator.workers, operator.kubeconfig_refresh_margin) == (3, 42.0)
    assert operator.provider_overrides == {"aws": "m:f"}
    assert str(operator.local_dir) == "/var/lib/hybridcloud/local"
    api = Settings()
    assert api.auth_cache_seconds == 7.0
    assert {k: str(v) for k, v in api.tiers.items()} == {"ci": "enterprise"}


def test_image_uses_the_app_version_unless_a_digest_pins_it(render: Render) -> None:
    image = one(render(), "Deployment", "hybridcloud-api")["spec"]["template"]["spec"][
        "containers"][0]["image"]
    assert image == "hybridcloud/hybridcloud:0.1.0"
    digest = "sha256:" + "a" * 64
    pinned = one(render("--set", f"image.digest={digest}"), "Deployment", "hybridcloud-operator")
    assert pinned["spec"]["template"]["spec"]["containers"][0]["image"] == \
        f"hybridcloud/hybridcloud@{digest}"


# -- CRDs -----------------------------------------------------------------------------------------

def test_crds_are_templated_kept_on_uninstall_and_equal_to_the_generated_ones(
    render: Render,
) -> None:
    rendered = {o["metadata"]["name"]: o for o in render()
                if o["kind"] == "CustomResourceDefinition"}
    generated = {doc["metadata"]["name"]: doc for doc in
                 (yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml")))}
    assert rendered.keys() == generated.keys()
    for name, crd in rendered.items():
        assert crd["spec"] == generated[name]["spec"], f"{name} differs from crds/"
        annotations = crd["metadata"]["annotations"]
        assert annotations["helm.sh/resource-policy"] == "keep"
        assert annotations["argocd.argoproj.io/sync-options"] == "Prune=false"
        assert annotations["kustomize.toolkit.fluxcd.io/prune"] == "disabled"
        assert generated[name]["metadata"]["labels"].items() <= crd["metadata"]["labels"].items()


def test_crds_can_be_left_out_or_made_deletable(render: Render) -> None:
    assert not [o for o in render("--set", "crds.install=false")
                if o["kind"] == "CustomResourceDefinition"]
    for crd in (o for o in render("--set", "crds.keep=false")
                if o["kind"] == "CustomResourceDefinition"):
        assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})


MAP_API = "--api-versions=admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"


def admission_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"].startswith("MutatingAdmissionPolicy")]


def test_finalizer_policy_renders_where_the_cluster_serves_its_api_and_equals_the_generated(
    render: Render,
) -> None:
    rendered = render(MAP_API)
    for generated in admission.manifests():
        found = one(rendered, generated["kind"], generated["metadata"]["name"])
        assert found["spec"] == generated["spec"]
        assert found["metadata"]["labels"]["app.kubernetes.io/component"] == "admission"


def test_finalizer_policy_is_left_out_on_older_clusters_or_when_disabled(render: Render) -> None:
    assert not admission_objects(render()), "no v1 MutatingAdmissionPolicy API: nothing rendered"
    assert not admission_objects(render(MAP_API, "--set", "admissionPolicy.enabled=false"))


# -- RBAC -----------------------------------------------------------------------------------------

def rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(group, resource, verb); a non-resource URL rule counts as group "" and the URL."""
    return {(group, resource, verb) for rule in role["rules"]
            for group in rule.get("apiGroups", [""])
            for resource in rule.get("resources", rule.get("nonResourceURLs", []))
            for verb in rule["verbs"]}


def test_no_role_uses_wildcards(render: Render) -> None:
    for role in (o for o in render() if o["kind"] in ("ClusterRole", "Role")):
        for group, resource, verb in rules(role):
            assert "*" not in (group, resource, verb), role["metadata"]["name"]


def test_operator_may_not_delete_or_create_custom_resources(render: Render) -> None:
    granted = rules(one(render(), "ClusterRole", "hybridcloud-operator"))
    for plural in ("hybridclusters", "multiclusterapplications"):
        assert ("platform.example.com", plural, "patch") in granted
        assert not {v for g, r, v in granted if r == plural} & {"create", "delete", "update"}
    assert not {v for g, r, v in granted if r == "secrets"} & {"delete", "watch", "update"}


def test_operator_reads_secrets_only_by_name_never_lists_them(render: Render) -> None:
    # A cluster-wide list/watch on Secrets would be every tenant's credentials in one call;
    # the operator only gets the Secrets a spec names and writes `<cluster>-kubeconfig`.
    granted = rules(one(render(), "ClusterRole", "hybridcloud-operator"))
    assert {v for g, r, v in granted if r == "secrets"} == {"get", "create", "patch"}


def test_operator_state_volume_is_size_limited(render: Render) -> None:
    def state(objects: list[dict[str, Any]]) -> dict[str, Any]:
        volumes = one(objects, "Deployment", "hybridcloud-operator")["spec"]["template"][
            "spec"]["volumes"]
        return next(v for v in volumes if v["name"] == "state")
    assert state(render())["emptyDir"] == {"sizeLimit": "5Gi"}
    assert state(render("--set", "operator.stateVolumeSizeLimit=20Gi"))["emptyDir"] == {
        "sizeLimit": "20Gi"}


def test_member_credentials_are_readable_by_the_api_only_in_their_own_namespace(
        render: Render) -> None:
    objects = render("--set", "operator.config.memberCredentialsNamespace=platform-secrets")
    api = rules(one(objects, "ClusterRole", "hybridcloud-api"))
    assert not {v for g, r, v in api if r == "secrets"}, "the API reads no tenant Secrets"
    for account, verbs in (("api", {"get"}), ("operator", {"get", "create", "patch", "delete"})):
        role = one(objects, "Role", f"hybridcloud-{account}-member-credentials")
        assert role["metadata"]["namespace"] == "platform-secrets"
        # The operator also keeps its log-shipping cursors there (issue 15) and watches the Git
        # push record the API writes there (issue 19; the API's rights to it are by name).
        configmaps = {("", "configmaps", v) for v in ("get", "list", "watch", "create", "patch")} \
            if account == "operator" else {("", "configmaps", v) for v in ("get", "update",
                                                                          "create")}
        assert rules(role) == {("", "secrets", verb) for verb in verbs} | configmaps
        binding = one(objects, "RoleBinding", f"hybridcloud-{account}-member-credentials")
        assert binding["metadata"]["namespace"] == "platform-secrets"
        assert binding["subjects"][0]["name"] == f"hybridcloud-{account}"
    # The API reads and rewrites only the push record there, by name.
    named = [rule for rule in one(objects, "Role", "hybridcloud-api-member-credentials")["rules"]
             if "configmaps" in rule["resources"] and {"get", "update"} & set(rule["verbs"])]
    assert named and all(r.get("resourceNames") == ["hybridcloud-git-pushes"] for r in named)
    assert env_of(one(objects, "Deployment", "hybridcloud-api"))[
        "HYBRIDCLOUD_API_MEMBER_CREDENTIALS_NAMESPACE"] == "platform-secrets"
    assert env_of(one(objects, "Deployment", "hybridcloud-operator"))[
        "HYBRIDCLOUD_OPERATOR_MEMBER_CREDENTIALS_NAMESPACE"] == "platform-secrets"


def test_namespaced_operator_gets_role_bindings_only_where_it_works(render: Render) -> None:
    objects = render("--set", "operator.watchNamespaces={team-a,team-b}")
    bindings = [o for o in objects if o["kind"] == "RoleBinding"
                and o["roleRef"]["name"] == "hybridcloud-operator"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == [
        "hc-system", "team-a", "team-b"]
    assert not [o for o in objects if o["kind"] == "ClusterRoleBinding"
                and o["roleRef"]["name"] == "hybridcloud-operator"]
    args = one(objects, "Deployment", "hybridcloud-operator")["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert args[-2:] == ["--namespace=team-a", "--namespace=team-b"]


def test_user_roles_aggregate_into_the_built_in_roles(render: Render) -> None:
    objects = render()
    for kind in ("hybridcluster", "multiclusterapplication", "webhooksubscription"):
        for role, builtin in (("admin", "admin"), ("editor", "edit"), ("viewer", "view")):
            labels = one(objects, "ClusterRole", f"hybridcloud-{kind}-{role}")["metadata"][
                "labels"]
            assert labels[f"rbac.authorization.k8s.io/aggregate-to-{builtin}"] == "true"
        viewer = rules(one(objects, "ClusterRole", f"hybridcloud-{kind}-viewer"))
        assert {v for _, _, v in viewer} == {"get", "list", "watch"}
    plain = render("--set", "rbac.aggregateToDefaultRoles=false")
    labels = one(plain, "ClusterRole", "hybridcloud-hybridcluster-viewer")["metadata"]["labels"]
    assert not [k for k in labels if k.startswith("rbac.authorization.k8s.io/aggregate")]


# -- network and monitoring -----------------------------------------------------------------------

def test_network_policies_deny_operator_ingress_and_open_only_the_api_port(
    render: Render,
) -> None:
    objects = render()
    operator = one(objects, "NetworkPolicy", "hybridcloud-operator")["spec"]
    assert operator["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in operator
    api = one(objects, "NetworkPolicy", "hybridcloud-api")["spec"]
    assert api["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    assert api["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert not [o for o in render("--set", "networkPolicy.enabled=false")
                if o["kind"] == "NetworkPolicy"]


METADATA_EGRESS = [{"to": [
    {"namespaceSelector": {}},
    {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
    {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}}]}]


def test_egress_is_open_except_to_the_cloud_metadata_addresses(render: Render) -> None:
    objects = render()
    for name in ("hybridcloud-operator", "hybridcloud-api"):
        spec = one(objects, "NetworkPolicy", name)["spec"]
        assert "Egress" in spec["policyTypes"]
        assert spec["egress"] == METADATA_EGRESS
    more = render("--set", "networkPolicy.egressDeniedCIDRs={169.254.169.254/32,"
                  "100.100.100.200/32,fd00:ec2::254/128}")
    peers = one(more, "NetworkPolicy", "hybridcloud-operator")["spec"]["egress"][0]["to"]
    assert peers[1]["ipBlock"]["except"] == ["169.254.169.254/32", "100.100.100.200/32"]


def test_metrics_have_their_own_port_open_only_to_configured_scrapers(render: Render) -> None:
    objects = render()
    api = one(objects, "Deployment", "hybridcloud-api")
    assert env_of(api)["HYBRIDCLOUD_API_METRICS_PORT"] == "9090"
    ports = api["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in ports
    service = one(objects, "Service", "hybridcloud-api")["spec"]["ports"]
    assert {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"} in service
    policy = one(objects, "NetworkPolicy", "hybridcloud-api")["spec"]
    assert [r for r in policy["ingress"] if r["ports"][0]["port"] == "metrics"] == []
    scraper = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    scraped = render("--set-json", f"networkPolicy.metricsFrom=[{json.dumps(scraper)}]")
    ingress = one(scraped, "NetworkPolicy", "hybridcloud-api")["spec"]["ingress"]
    assert ingress[1] == {"ports": [{"port": "metrics", "protocol": "TCP"}], "from": [scraper]}


def test_api_defaults_keep_docs_off_and_protect_the_platform_namespace(render: Render) -> None:
    env = env_of(one(render(), "Deployment", "hybridcloud-api"))
    assert "HYBRIDCLOUD_API_DOCS_ENABLED" not in env  # the setting's default: off
    assert env["HYBRIDCLOUD_API_PLATFORM_NAMESPACE"] == "hc-system"
    assert env["HYBRIDCLOUD_API_OAUTH_NAMESPACE"] == "hc-system"


def test_monitoring_objects_are_opt_in(render: Render) -> None:
    assert not [o for o in render() if o["kind"] in ("ServiceMonitor", "PodMonitor",
                                                      "PrometheusRule")]
    objects = render("--set", "metrics.serviceMonitor.enabled=true",
                     "--set", "metrics.prometheusRule.enabled=true")
    monitor = one(objects, "ServiceMonitor", "hybridcloud-api")
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics",
                                             "interval": "30s"}]
    pods = one(objects, "PodMonitor", "hybridcloud-operator")  # the operator's own /metrics
    assert pods["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics",
                                                    "interval": "30s"}]
    rule = one(objects, "PrometheusRule", "hybridcloud")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts == {"HybridcloudAPIDown", "HybridcloudOperatorUnavailable",
                      "HybridcloudOperatorDown", "HybridcloudReconcileErrors",
                      "HybridcloudClusterStuck", "HybridcloudDeliveriesFailing",
                      "HybridcloudGitFetchesFailing"}



# -- GitOps examples ------------------------------------------------------------------------------

def test_argocd_application_installs_this_chart_with_values_the_schema_accepts(
    render: Render, tmp_path: Path,
) -> None:
    app = yaml.safe_load((ROOT / "deploy" / "argocd" / "application.yaml").read_text())
    source = app["spec"]["source"]
    assert (ROOT / source["path"]).resolve() == CHART
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
    assert render("-f", str(values))
    assert app["spec"]["destination"]["namespace"] == "hybridcloud-system"
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]


def test_flux_example_syncs_the_kustomize_base() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "flux" / "hybridcloud.yaml").read_text()))
    kustomization = next(d for d in docs if d["kind"] == "Kustomization")
    assert (ROOT / kustomization["spec"]["path"] / "kustomization.yaml").exists()
    assert kustomization["spec"]["prune"] is True and kustomization["spec"]["wait"] is True


def test_logs_url_points_the_operator_and_the_api_at_an_existing_store(render: Render) -> None:
    # issue 15: the chart takes the URL of an existing VictoriaLogs; none by default.
    objects = render("--set", "logs.url=http://victorialogs.monitoring:9428")
    for kind, variable in (("operator", "HYBRIDCLOUD_OPERATOR_LOGS_URL"),
                           ("api", "HYBRIDCLOUD_API_LOGS_URL")):
        env = env_of(one(objects, "Deployment", f"hybridcloud-{kind}"))
        assert env[variable] == "http://victorialogs.monitoring:9428"
    defaults = render()
    assert "HYBRIDCLOUD_API_LOGS_URL" not in env_of(one(defaults, "Deployment", "hybridcloud-api"))
