"""`helm install / upgrade / uninstall` of the chart against a real apiserver.

A fresh management cluster (the session's already has CRDs that Helm does not own). The release
is first installed from a copy of the chart whose CRD is an "older version", so that the upgrade
to the real chart must change the live CRD.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridcloud.controlplane import ControlPlane, Profile

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "hybridcloud"
RELEASE, NAMESPACE = "hybridcloud", "hybridcloud-system"
CRD = "hybridclusters.platform.example.com"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cluster(bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("helm"), Profile.MANAGEMENT, name="helm",
                      bin_dir=bin_dir) as plane:
        yield plane


def _runner(binary: Path, kubeconfig: Path) -> Run:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), "--kubeconfig", str(kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)
    return run


@pytest.fixture(scope="module")
def helm(cluster: ControlPlane, bin_dir: Path) -> Run:
    return _runner(bin_dir / "helm", cluster.kubeconfig)


@pytest.fixture(scope="module")
def kubectl(cluster: ControlPlane, bin_dir: Path) -> Run:
    return _runner(bin_dir / "kubectl", cluster.kubeconfig)


def generated_crd() -> dict[str, Any]:
    path = ROOT / "crds" / f"platform.example.com_{CRD.split('.')[0]}.yaml"
    crd: dict[str, Any] = yaml.safe_load(path.read_text())
    return crd


@pytest.fixture(scope="module")
def older_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart as a previous release: its HybridCluster CRD lacks the last printer column."""
    chart = tmp_path_factory.mktemp("older") / "hybridcloud"
    shutil.copytree(CHART, chart)
    path = chart / "files" / "crds" / "platform.example.com_hybridclusters.yaml"
    crd = yaml.safe_load(path.read_text())
    crd["spec"]["versions"][0]["additionalPrinterColumns"].pop()
    path.write_text(yaml.safe_dump(crd))
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = "0.0.1"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    return chart


@pytest.fixture(scope="module")
def installed(helm: Run, older_chart: Path) -> str:
    answer = helm("install", RELEASE, str(older_chart), "--namespace", NAMESPACE,
                  "--create-namespace")
    assert answer.returncode == 0, answer.stderr
    return answer.stdout


@pytest.fixture(scope="module")
def upgraded(installed: str, helm: Run, kubectl: Run) -> str:
    assert printer_columns(kubectl) != printer_columns_of(generated_crd())
    answer = helm("upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE)
    assert answer.returncode == 0, answer.stderr
    return answer.stdout


def get(kubectl: Run, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    answer = kubectl("get", kind, name, *(["-n", namespace] if namespace else []), "-o", "json")
    if answer.returncode != 0:
        assert "NotFound" in answer.stderr, answer.stderr
        return None
    found: dict[str, Any] = json.loads(answer.stdout)
    return found


def printer_columns_of(crd: dict[str, Any]) -> list[str]:
    return [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]


def printer_columns(kubectl: Run) -> list[str]:
    live = get(kubectl, "crd", CRD)
    assert live is not None
    return printer_columns_of(live)


def manifest(helm: Run) -> list[dict[str, Any]]:
    answer = helm("get", "manifest", RELEASE, "--namespace", NAMESPACE)
    assert answer.returncode == 0, answer.stderr
    return [doc for doc in yaml.safe_load_all(answer.stdout) if doc]


def kind_of(obj: dict[str, Any]) -> str:
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    return f"{obj['kind']}.{group}" if group else obj["kind"]


def test_install_creates_every_object_of_the_release(installed: str, helm: Run,
                                                     kubectl: Run) -> None:
    objects = manifest(helm)
    kinds = {o["kind"] for o in objects}
    assert {"CustomResourceDefinition", "Deployment", "Service", "ClusterRole",
            "NetworkPolicy"} <= kinds
    # Helm found the v1 MutatingAdmissionPolicy API on this cluster, so the finalizer policy is in.
    assert {"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"} <= kinds
    for obj in objects:
        live = get(kubectl, kind_of(obj), obj["metadata"]["name"],
                   obj["metadata"].get("namespace"))
        assert live is not None, f"{obj['kind']}/{obj['metadata']['name']} missing"
        assert live["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    for crd in ("hybridclusters", "multiclusterapplications"):
        answer = kubectl("wait", "--for=condition=Established",
                         f"crd/{crd}.platform.example.com", "--timeout=30s")
        assert answer.returncode == 0, answer.stderr


def test_installed_pods_cannot_reach_the_cloud_metadata_addresses_and_state_is_capped(
        installed: str, kubectl: Run) -> None:
    """What the apiserver stored (not just what Helm rendered): egress everywhere except the
    instance-metadata endpoints, and a size limit on the operator's state volume."""
    for name in (f"{RELEASE}-operator", f"{RELEASE}-api"):
        policy = get(kubectl, "networkpolicy", name, NAMESPACE)
        assert policy is not None
        assert "Egress" in policy["spec"]["policyTypes"]
        blocks = [peer["ipBlock"] for rule in policy["spec"]["egress"] for peer in rule["to"]
                  if "ipBlock" in peer]
        assert {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]} in blocks
        assert {"cidr": "::/0", "except": ["fd00:ec2::254/128"]} in blocks
    operator = get(kubectl, "deployment", f"{RELEASE}-operator", NAMESPACE)
    assert operator is not None
    volumes = {v["name"]: v for v in operator["spec"]["template"]["spec"]["volumes"]}
    assert volumes["state"]["emptyDir"] == {"sizeLimit": "5Gi"}


def test_install_notes_tell_how_to_reach_the_api_and_where_credentials_go(installed: str) -> None:
    notes = installed.split("NOTES:", 1)[1]
    assert f"port-forward svc/{RELEASE}-api" in notes
    assert "hybridcloud-aws-credentials" in notes and f"-n {NAMESPACE}" in notes


def test_upgrade_updates_the_crds(upgraded: str, kubectl: Run) -> None:
    live = get(kubectl, "crd", CRD)
    assert live is not None
    generated = generated_crd()
    assert printer_columns_of(live) == printer_columns_of(generated)
    live_schema = live["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert live_schema == generated["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_uninstall_keeps_the_crds_and_the_users_objects(upgraded: str, helm: Run,
                                                        kubectl: Run) -> None:
    assert kubectl("create", "namespace", "team-a").returncode == 0
    for sample in ("hybridcluster-local.yaml", "multiclusterapplication-sample-app.yaml"):
        answer = kubectl("apply", "--server-side", "-n", "team-a",
                         "-f", str(ROOT / "deploy" / "samples" / sample))
        assert answer.returncode == 0, answer.stderr
    before = json.loads(kubectl("get", "hybridclusters,multiclusterapplications", "-n", "team-a",
                                "-o", "json").stdout)["items"]
    objects = manifest(helm)

    answer = helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
    assert answer.returncode == 0, answer.stderr

    for obj in objects:
        live = get(kubectl, kind_of(obj), obj["metadata"]["name"],
                   obj["metadata"].get("namespace"))
        if obj["kind"] == "CustomResourceDefinition":
            assert live is not None and live["metadata"].get("deletionTimestamp") is None
        else:
            assert live is None or live["metadata"].get("deletionTimestamp"), \
                f"{obj['kind']}/{obj['metadata']['name']} survived the uninstall"
    after = json.loads(kubectl("get", "hybridclusters,multiclusterapplications", "-n", "team-a",
                               "-o", "json").stdout)["items"]
    assert [o["metadata"]["uid"] for o in after] == [o["metadata"]["uid"] for o in before]
    assert len(after) == 2
