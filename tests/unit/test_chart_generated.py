"""Generated files stay in step with their sources: chart CRDs, values schema, deploy/, argocd-cm.

``hack/generate_manifests.py`` derives them; ``--check`` fails on drift. These tests also prove
the check itself notices a hand edit, so it cannot silently pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hybridcloud.api.settings import Settings
from hybridcloud.controllers.config import OperatorConfig

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "hack" / "generate_manifests.py"


def check(bin_dir: Path, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "hack" / "generate_manifests.py"), "--check"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HYBRIDCLOUD_BIN_DIR": str(bin_dir)})


def test_generated_files_are_up_to_date(bin_dir: Path) -> None:
    answer = check(bin_dir)
    assert answer.returncode == 0, answer.stderr


@pytest.fixture
def copy_of_repo(tmp_path: Path) -> Path:
    """The files the generator reads and writes, in a scratch tree it can be run against."""
    for part in ("hack", "crds", "charts", "deploy"):
        shutil.copytree(ROOT / part, tmp_path / part)
    (tmp_path / "operator").symlink_to(ROOT / "operator")
    return tmp_path


@pytest.mark.parametrize(("edit", "reported"), [
    ("deploy/operator/deployment-hybridcloud-operator.yaml", "out of date: deploy/operator/"),
    ("charts/hybridcloud/files/crds/platform.example.com_hybridclusters.yaml",
     "out of date: charts/hybridcloud/files/crds/"),
    ("deploy/argocd/health.lua", "out of date: deploy/argocd/argocd-cm-health.yaml"),
])
def test_drift_check_fails_naming_the_hand_edited_output(bin_dir: Path, copy_of_repo: Path,
                                                         edit: str, reported: str) -> None:
    path = copy_of_repo / edit
    path.write_text(path.read_text() + "\n-- edited by hand\n".replace(
        "--", "#" if edit.endswith(".yaml") else "--"))
    answer = check(bin_dir, copy_of_repo)
    assert answer.returncode == 1
    assert reported in answer.stderr
    assert "run: python hack/generate_manifests.py" in answer.stderr


def test_drift_check_reports_files_no_longer_generated(bin_dir: Path, copy_of_repo: Path) -> None:
    (copy_of_repo / "deploy" / "rbac" / "clusterrole-leftover.yaml").write_text("kind: X\n")
    answer = check(bin_dir, copy_of_repo)
    assert answer.returncode == 1
    assert "no longer generated: deploy/rbac/clusterrole-leftover.yaml" in answer.stderr


def test_chart_crd_files_are_byte_copies_of_crds() -> None:
    chart = ROOT / "charts" / "hybridcloud" / "files" / "crds"
    generated = sorted((ROOT / "crds").glob("*.yaml"))
    assert [p.name for p in generated] == sorted(p.name for p in chart.glob("*.yaml"))
    for path in generated:
        assert (chart / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize(("section", "model"), [("operator", OperatorConfig), ("api", Settings)])
def test_schema_config_sections_list_exactly_the_settings_fields(section: str,
                                                                 model: type) -> None:
    schema = json.loads((ROOT / "charts" / "hybridcloud" / "values.schema.json").read_text())
    config = schema["properties"][section]["properties"]["config"]
    assert config["additionalProperties"] is False
    names = {name.replace("_", "") for name in model.model_fields}  # type: ignore[attr-defined]
    assert {key.lower() for key in config["properties"]} == names


def test_kustomize_base_is_the_chart_without_helm_bookkeeping() -> None:
    kustomization = yaml.safe_load((ROOT / "deploy" / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    assert resources[0] == "namespace.yaml"
    namespace = yaml.safe_load((ROOT / "deploy" / "namespace.yaml").read_text())
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for entry in resources[1:]:
        obj = yaml.safe_load((ROOT / "deploy" / entry).read_text())
        labels = obj["metadata"]["labels"]
        assert "helm.sh/chart" not in labels, entry
        assert labels["app.kubernetes.io/managed-by"] == "kustomize", entry
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                               "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"):
            assert obj["metadata"]["namespace"] == "hybridcloud-system", entry
