"""The operator's /metrics, scraped over HTTP from the real operator process while it reconciles
a `local` cluster, an application delivered to it from git, a cluster whose status writes the
apiserver refuses (a ValidatingAdmissionPolicy: the reconcile error case) and an application
whose repository does not exist (a git fetch failure).

The scenario runs once for the module; each test reads what one part of it must have moved.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType
from prometheus_client.parser import text_string_to_metric_families

from hybridcloud.controlplane import ControlPlane
from hybridcloud.controlplane._net import free_ports
from hybridcloud.kube.resources import HybridClusterResource

from ..alert_rules import EXTERNAL, metric_names, rendered_rules
from .harness import OperatorProcess, delivery_operator, eventually, fresh_namespace, wait_phase
from .test_application_delivery import Repo, create_app, is_ready, sample_files, wait_app

pytestmark = pytest.mark.integration
WORKERS = {"hybridcluster": 16, "multiclusterapplication": 48}
REFUSED = "refused-status"  # clusters whose names start with this may not have status written
Samples = list[tuple[str, dict[str, str], float]]


@dataclass
class Scenario:
    operator: OperatorProcess
    url: str
    namespace: str

    def scrape(self) -> Samples:
        answer = httpx.get(self.url, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        return [(s.name, dict(s.labels), s.value)
                for family in text_string_to_metric_families(answer.text)
                for s in family.samples]


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """Sum of the samples of ``metric`` carrying (at least) ``labels``."""
    return sum(v for n, found, v in samples
               if n == metric and all(found.get(k) == want for k, want in labels.items()))


def labelled(samples: Samples, name: str) -> list[dict[str, str]]:
    return [found for n, found, _ in samples if n == name]


def refuse_status_writes(kubectl: Callable[..., Any], namespace: str) -> str:
    """A ValidatingAdmissionPolicy (and binding) refusing status writes of the namespace's
    clusters named ``refused-status*``; returns the policy's name."""
    name = f"metrics-test-{namespace}"
    manifests = [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {
                      "namespaceSelector": {"matchLabels": {
                          "kubernetes.io/metadata.name": namespace}},
                      "resourceRules": [{"apiGroups": ["platform.example.com"],
                                         "apiVersions": ["v1"], "operations": ["UPDATE"],
                                         "resources": ["hybridclusters/status"]}]},
                  "validations": [{"expression": f"!object.metadata.name.startsWith('{REFUSED}')",
                                   "message": "status writes refused by the test",
                                   "reason": "Forbidden"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
         "spec": {"policyName": name, "validationActions": ["Deny"]}},
    ]
    answer = kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(m) for m in manifests))
    assert answer.returncode == 0, answer.stderr
    return name


def aws_cluster(name: str) -> Any:
    # No credentials Secret exists: the pass decides "Failed" without any cloud call and then
    # writes that status, which the policy refuses.
    return HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": name},
        "spec": {"provider": "aws", "region": "us-east-1", "version": "1.31",
                 "nodeGroups": [{"name": "workers", "size": 1}]}})


def wait_policy_in_force(kube: Client, namespace: str) -> None:
    """The apiserver loads policies asynchronously: probe with a status write of our own."""
    kube.create(aws_cluster(f"{REFUSED}-probe"), namespace=namespace)

    def refused() -> bool:
        try:
            kube.patch(HybridClusterResource.Status, f"{REFUSED}-probe",
                       {"status": {"phase": "Pending"}}, namespace=namespace,
                       patch_type=PatchType.MERGE)
        except ApiError as exc:
            return exc.status.code == 403
        return False

    eventually(refused, timeout=30, message="the admission policy never took effect")


@pytest.fixture(scope="module")
def scenario(management: ControlPlane, kube: Client, kubectl: Callable[..., Any],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    [port] = free_ports(1)
    workdir = tmp_path_factory.mktemp("metrics")
    with fresh_namespace(kube, "metrics") as namespace, \
            delivery_operator(management.kubeconfig, namespace, workdir / "operator",
                              HYBRIDCLOUD_OPERATOR_METRICS_PORT=str(port)) as operator:
        policy = refuse_status_writes(kubectl, namespace)
        try:
            found = Scenario(operator, f"http://127.0.0.1:{port}/metrics", namespace)
            kube.create(HybridClusterResource.from_dict({
                "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
                "metadata": {"name": "metered"},
                "spec": {"provider": "local", "version": "v1.37.2",
                         "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=namespace)
            wait_policy_in_force(kube, namespace)
            kube.create(aws_cluster(REFUSED), namespace=namespace)
            (workdir / "repo").mkdir()
            (workdir / "gone").mkdir()
            repo = Repo(workdir / "repo")
            repo.commit(sample_files())
            wait_phase(kube, namespace, "metered", "Active", operator, timeout=180)
            create_app(kube, namespace, "metered-app", repo, "k8s/manifests",
                       placement=[{"cluster": "metered"}],
                       syncPolicy={"automated": True, "prune": True, "selfHeal": True})
            wait_app(kube, namespace, "metered-app", operator, is_ready, "Ready", timeout=120)
            missing = Repo(workdir / "gone")
            missing.url = f"file://{workdir}/no-such-repository.git"
            create_app(kube, namespace, "unfetchable", missing, "k8s/manifests",
                       placement=[{"cluster": "metered"}])
            yield found
        finally:
            kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy",
                    policy, "--ignore-not-found")


def scraped_when(scenario: Scenario, check: Callable[[Samples], bool], what: str) -> Samples:
    latest: list[Samples] = []

    def probe() -> Samples | None:
        latest[:] = [scenario.scrape()]
        return latest[0] if check(latest[0]) else None

    return eventually(probe, timeout=60, interval=0.5, message=lambda: (
        f"/metrics never showed {what}; operator log:\n{scenario.operator.tail(30)}"))


def test_reconciles_are_counted_per_controller_and_result_with_controller_runtime_names(
        scenario: Scenario) -> None:
    samples = scenario.scrape()
    for controller in ("hybridcluster", "multiclusterapplication"):
        # Converged objects come back at the resync interval: controller-runtime's RequeueAfter.
        assert value(samples, "controller_runtime_reconcile_total", controller=controller,
                     result="requeue_after") > 0, controller
        assert value(samples, "controller_runtime_reconcile_time_seconds_count",
                     controller=controller) > 0
        assert value(samples, "controller_runtime_reconcile_time_seconds_bucket",
                     controller=controller, le="+Inf") == value(
            samples, "controller_runtime_reconcile_time_seconds_count", controller=controller)
        # The default workers settings: 16 per kind, 48 application passes (issue 19).
        assert value(samples, "controller_runtime_max_concurrent_reconciles",
                     controller=controller) == WORKERS[controller]
        assert {"controller": controller} in labelled(samples, "controller_runtime_active_workers")
    results = {found["result"] for found in labelled(samples, "controller_runtime_reconcile_total")}
    assert results <= {"success", "error", "requeue", "requeue_after"}


def test_a_refused_status_write_is_a_reconcile_error_a_retry_and_a_403_of_the_client(
        scenario: Scenario) -> None:
    samples = scraped_when(scenario, lambda s: value(
        s, "controller_runtime_reconcile_errors_total", controller="hybridcluster") > 0,
        "a reconcile error")
    assert value(samples, "controller_runtime_reconcile_total", controller="hybridcluster",
                 result="error") > 0
    assert value(samples, "workqueue_retries_total", name="hybridcluster") > 0
    assert value(samples, "rest_client_requests_total", code="403", method="PATCH") > 0
    # Application passes did not fail: errors are counted per controller.
    assert value(samples, "controller_runtime_reconcile_errors_total",
                 controller="multiclusterapplication") == 0


def test_work_queue_adds_latency_and_depth_are_served_per_queue(scenario: Scenario) -> None:
    samples = scenario.scrape()
    for name in ("hybridcluster", "multiclusterapplication"):
        assert value(samples, "workqueue_adds_total", name=name) >= 1, name
        assert value(samples, "workqueue_queue_duration_seconds_count", name=name) >= 1
        assert value(samples, "workqueue_work_duration_seconds_count", name=name) >= 1
        for gauge in ("workqueue_depth", "workqueue_unfinished_work_seconds",
                      "workqueue_longest_running_processor_seconds"):
            assert {"name": name} in labelled(samples, gauge), (gauge, name)
            assert value(samples, gauge, name=name) >= 0


def test_status_writes_are_counted_by_code_method_and_host(
        scenario: Scenario, management: ControlPlane) -> None:
    samples = scenario.scrape()
    patched = [found for found in labelled(samples, "rest_client_requests_total")
               if found["method"] == "PATCH" and found["code"] == "200"]
    assert patched, "the operator's status patches were not counted"
    config = KubeConfig.from_file(management.kubeconfig).get()
    assert config is not None
    # (Member hosts appear too: the delivery's server-side applies are PATCHes.)
    assert urlsplit(config.cluster.server).netloc in {found["host"] for found in patched}


def test_reads_watches_and_member_writes_are_counted_like_client_gos_rest_client(
        scenario: Scenario, management: ControlPlane, kube: Client) -> None:
    """Not only the wire client's writes: the lightkube reads and watches of the management
    apiserver, and the delivery's server-side applies to the member's own apiserver."""
    config = KubeConfig.from_file(management.kubeconfig).get()
    assert config is not None
    secret = kube.get(Secret, name="metered-kubeconfig", namespace=scenario.namespace)
    member = KubeConfig.from_dict(yaml.safe_load(
        base64.b64decode((secret.data or {})["value"]))).get()
    assert member is not None
    management_host = urlsplit(config.cluster.server).netloc
    member_host = urlsplit(member.cluster.server).netloc
    assert member_host != management_host
    samples = scenario.scrape()
    assert value(samples, "rest_client_requests_total", method="GET", code="200",
                 host=management_host) > 0, "the lightkube reads and watches were not counted"
    assert value(samples, "rest_client_requests_total", method="PATCH",
                 host=member_host) > 0, "the applies to the member were not counted"
    assert value(samples, "rest_client_requests_total", method="GET",
                 host=member_host) > 0, "the reads of the member were not counted"


def test_provider_calls_are_timed_by_cloud_and_operation(scenario: Scenario) -> None:
    samples = scenario.scrape()
    assert value(samples, "hybridcloud_provider_call_duration_seconds_count", cloud="local",
                 operation="create") == 1
    assert value(samples, "hybridcloud_provider_call_duration_seconds_count", cloud="local",
                 operation="describe") >= 2
    assert value(samples, "hybridcloud_provider_call_duration_seconds_sum", cloud="local",
                 operation="create") > 0
    clouds = {found["cloud"] for found in
              labelled(samples, "hybridcloud_provider_call_duration_seconds_count")}
    assert "aws" not in clouds, "the aws clusters without credentials never reached a cloud"


def test_git_fetches_are_timed_and_failures_counted_by_reason(scenario: Scenario) -> None:
    samples = scraped_when(scenario, lambda s: value(
        s, "hybridcloud_git_fetch_failures_total") > 0, "a failed git fetch")
    assert value(samples, "hybridcloud_git_fetch_duration_seconds_count") >= 2
    reasons = {found["reason"]
               for found in labelled(samples, "hybridcloud_git_fetch_failures_total")}
    assert reasons and "Error" not in reasons, reasons


def test_deliveries_count_the_objects_applied_to_members(scenario: Scenario) -> None:
    samples = scenario.scrape()
    # Deployment, Service and ConfigMap of the sample app, applied once at least.
    assert value(samples, "hybridcloud_delivery_objects_total", action="applied") >= 3
    assert value(samples, "hybridcloud_delivery_syncs_total", result="success") >= 1


def test_clusters_and_applications_by_state_come_from_the_operator_cache(
        scenario: Scenario) -> None:
    samples = scraped_when(scenario, lambda s: value(
        s, "hybridcloud_application_deployments", health="Healthy", sync="Synced") == 1,
        "the delivered app as Healthy and Synced")
    assert value(samples, "hybridcloud_clusters", phase="Active", provider="local") == 1
    # Its status could never be written: the cache knows no phase for it (the probe's status
    # may have been written before the policy took effect).
    assert value(samples, "hybridcloud_clusters", phase="Unknown", provider="aws") >= 1
    assert value(samples, "hybridcloud_applications", phase="Deployed") == 1
    assert value(samples, "hybridcloud_cluster_phase_oldest_seconds", phase="Active") > 0


def test_every_metric_the_alert_rules_read_is_served_after_a_real_reconcile(
        scenario: Scenario, bin_dir: Path) -> None:
    samples = scraped_when(scenario, lambda s: value(
        s, "hybridcloud_git_fetch_failures_total") > 0, "a failed git fetch")
    served = {name for name, _, _ in samples}
    read = {name for rule in rendered_rules(bin_dir / "helm")
            for name in metric_names(rule["expr"])}
    assert read - set(EXTERNAL) <= served, sorted(read - set(EXTERNAL) - served)


def test_no_series_names_a_tenant_namespace_object_or_repository(scenario: Scenario) -> None:
    text = httpx.get(scenario.url, timeout=10).text
    for tenant_data in (scenario.namespace, "metered", REFUSED, "unfetchable",
                        "no-such-repository", "file://"):
        assert tenant_data not in text, tenant_data
