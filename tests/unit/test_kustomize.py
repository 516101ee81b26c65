"""Kustomize sources: overlays build with the project's kubectl, and a kustomization can reach
neither the network nor anything outside its repository."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hybridcloud.delivery.kustomize import check_references, is_kustomization, render_kustomization
from hybridcloud.delivery.render import Rendered, RenderError, select

from .test_render import write

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app.kubernetes.io/component: frontend}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
"""

REPOSITORY = {
    "base/kustomization.yaml": "resources: [deployment.yaml, config.yaml]\n",
    "base/deployment.yaml": DEPLOYMENT,
    "base/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
                        "data: {mode: base}\n",
    "overlays/prod/kustomization.yaml": """\
resources:
  - ../../base
namePrefix: prod-
commonLabels: {tier: prod}
images:
  - {name: nginx, newTag: "1.27"}
patches:
  - path: replicas.yaml
configMapGenerator:
  - name: extra
    literals: [color=blue]
""",
    "overlays/prod/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\n"
                                   "metadata: {name: web}\nspec: {replicas: 3}\n",
}


def build(repo: Path, path: str, bin_dir: Path) -> Rendered:
    return asyncio.run(render_kustomization(repo / path, repo, kubectl=bin_dir / "kubectl"))


def test_an_overlay_builds_over_its_base_with_patches_images_and_generators(
        tmp_path: Path, bin_dir: Path) -> None:
    repo = write(tmp_path, REPOSITORY)
    assert is_kustomization(repo / "overlays" / "prod")
    rendered = build(repo, "overlays/prod", bin_dir)
    objects = {m.obj["metadata"]["name"]: m for m in rendered.manifests}
    web = objects["prod-web"].obj
    assert web["spec"]["replicas"] == 3
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert web["metadata"]["labels"]["tier"] == "prod"
    assert "prod-settings" in objects
    assert any(name.startswith("prod-extra-") for name in objects), "generated ConfigMap"
    assert objects["prod-web"].origin.startswith("overlays/prod/kustomization.yaml (built):")
    assert rendered.components == {"frontend"}
    common = select(rendered, [], field="x")
    assert "prod-web" not in {m.obj["metadata"]["name"] for m in common}


@pytest.mark.parametrize("entry", [
    "https://github.com/example/app//deploy?ref=main",
    "github.com/example/app/deploy?ref=v1",
    "git@github.com:example/app.git",
    "ssh://git@example.com/app.git",
])
def test_remote_references_are_refused_naming_the_file_and_line(tmp_path: Path,
                                                                 entry: str) -> None:
    repo = write(tmp_path, {"app/kustomization.yaml": f"namePrefix: x-\nresources:\n"
                                                      f"  - local.yaml\n  - {entry}\n"})
    with pytest.raises(RenderError) as error:
        check_references(repo / "app", repo)
    assert error.value.origin == "app/kustomization.yaml:4"
    assert "vendor it into the repository" in error.value.message


def test_a_reference_leaving_the_repository_is_refused_even_through_a_base(
        tmp_path: Path, bin_dir: Path) -> None:
    outside = write(tmp_path / "elsewhere", {
        "kustomization.yaml": "resources: [secret.yaml]\n",
        "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n"})
    repo = write(tmp_path / "repo", {
        "app/kustomization.yaml": "resources: [../base]\n",
        "base/kustomization.yaml": f"resources:\n  - {outside}\n"})
    with pytest.raises(RenderError) as error:
        build(repo, "app", bin_dir)
    assert error.value.origin == "base/kustomization.yaml:2"
    assert "leaves the repository" in error.value.message


def test_helm_inflation_is_refused_with_a_pointer_to_chart_sources(tmp_path: Path) -> None:
    repo = write(tmp_path, {"kustomization.yaml": "helmCharts:\n  - name: web\n"})
    with pytest.raises(RenderError, match=r"point source\.path at the chart"):
        check_references(repo, repo)


def test_a_broken_kustomization_names_its_file_and_kustomizes_message(
        tmp_path: Path, bin_dir: Path) -> None:
    repo = write(tmp_path, {"app/kustomization.yaml": "resources: [missing.yaml]\n"})
    with pytest.raises(RenderError) as error:
        build(repo, "app", bin_dir)
    assert error.value.origin == "app/kustomization.yaml:1"
    assert "kustomize failed" in error.value.message and "missing.yaml" in error.value.message
    assert str(tmp_path) not in error.value.message, "operator paths are not shown to users"
