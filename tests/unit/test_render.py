"""Rendering sources: plain YAML layouts, components, values, Helm charts, and error locations."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from hybridcloud.delivery.render import (
    RenderError,
    load_directory,
    parse_documents,
    render_chart,
    select,
)
from hybridcloud.delivery.values import apply_values, retag

from ..support import missing_tool

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: 1
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      containers:
        - {name: main, image: "registry.local:5000/NAME:1.0"}
        - {name: sidecar, image: "proxy@sha256:abc"}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def distributed(root: Path) -> Path:
    files = {"namespace-config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n"}
    for component in ("frontend", "api", "database", "cache"):
        files[f"{component}/deployment.yaml"] = DEPLOYMENT.replace("NAME", component)
    return write(root, files)


# -- plain YAML layout --------------------------------------------------------------------------

def test_top_level_files_are_common_and_folders_are_components(tmp_path: Path) -> None:
    rendered = load_directory(distributed(tmp_path))
    assert rendered.components == {"frontend", "api", "database", "cache"}
    chosen = select(rendered, ["frontend", "api"], field="spec.placement[0].components")
    assert sorted(m.obj["metadata"]["name"] for m in chosen) == ["api", "frontend", "shared"]
    assert len(select(rendered, None, field="x")) == 5


def test_the_component_label_assigns_common_objects_to_a_component(tmp_path: Path) -> None:
    write(tmp_path, {"all.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\n"
                     "  labels: {app.kubernetes.io/component: database}\n---\n"
                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: common}\n"})
    rendered = load_directory(tmp_path)
    assert rendered.components == {"database"}
    assert [m.obj["metadata"]["name"] for m in select(rendered, [], field="x")] == ["common"]


def test_an_unknown_component_is_an_error_naming_the_field(tmp_path: Path) -> None:
    rendered = load_directory(distributed(tmp_path))
    with pytest.raises(RenderError) as error:
        select(rendered, ["queue"], field="spec.placement[1].components")
    assert str(error.value).startswith("spec.placement[1].components: component(s) queue not "
                                       "found")


def test_lists_are_expanded_and_origins_carry_the_line(tmp_path: Path) -> None:
    text = ("# comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n"
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, "
            "metadata: {name: two}}\n")
    found = parse_documents(text, "app/x.yaml", None)
    assert [(m.obj["kind"], m.origin) for m in found] == [
        ("ConfigMap", "app/x.yaml:2"), ("Secret", "app/x.yaml:6")]


def test_hidden_and_non_manifest_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"README.md": "# hi", ".git/x.yaml": "broken: [",
                     "cm.yml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
    assert [m.origin for m in load_directory(tmp_path).manifests] == ["cm.yml:1"]


@pytest.mark.parametrize(("text", "origin", "problem"), [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n", "bad.yaml:5", "invalid YAML"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n- 1\n", "bad.yaml:5",
     "found list"),
    ("apiVersion: v1\nmetadata: {name: a}\n", "bad.yaml:1", "no kind"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "bad.yaml:1", "no metadata.name"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "bad.yaml:5",
     "also defined at bad.yaml:1"),
])
def test_broken_manifests_name_the_file_and_line(tmp_path: Path, text: str, origin: str,
                                                 problem: str) -> None:
    write(tmp_path, {"ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
                     "bad.yaml": text})
    with pytest.raises(RenderError) as error:
        load_directory(tmp_path)
    assert error.value.origin == origin
    assert problem in error.value.message


# -- values ----------------------------------------------------------------------------------------

def test_values_set_image_tag_replicas_and_resources_on_workloads(tmp_path: Path) -> None:
    rendered = load_directory(distributed(tmp_path))
    values = {"image": {"tag": "v1.2.3"}, "replicas": 3,
              "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "512Mi"}},
              "components": {"database": {"replicas": 1}}}
    result = {m.obj["metadata"]["name"]: m.obj for m in apply_values(rendered.manifests, values)}
    frontend = result["frontend"]["spec"]
    assert frontend["replicas"] == 3
    containers = frontend["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["registry.local:5000/frontend:v1.2.3",
                                               "proxy:v1.2.3"]
    assert containers[0]["resources"] == {"requests": {"cpu": "100m"},
                                          "limits": {"memory": "512Mi"}}
    assert result["database"]["spec"]["replicas"] == 1
    assert "spec" not in result["shared"], "non-workloads are untouched"
    assert rendered.manifests[1].obj["spec"]["replicas"] == 1, "the source is not mutated"


@pytest.mark.parametrize(("values", "field"), [
    ({"replicas": "three"}, "values.replicas"),
    ({"replicas": -1}, "values.replicas"),
    ({"image": "v1"}, "values.image"),
    ({"image": {"tag": ""}}, "values.image.tag"),
    ({"resources": [1]}, "values.resources"),
    ({"components": []}, "values.components"),
])
def test_bad_values_are_errors_naming_the_field(tmp_path: Path, values: dict[str, object],
                                                field: str) -> None:
    rendered = load_directory(distributed(tmp_path))
    with pytest.raises(RenderError) as error:
        apply_values(rendered.manifests, values)
    assert error.value.origin == field


def test_retag_handles_registries_with_ports_digests_and_repositories() -> None:
    assert retag("nginx", {"tag": "1.27"}, "f") == "nginx:1.27"
    assert retag("reg:5000/a/b:1", {"tag": 2}, "f") == "reg:5000/a/b:2"
    assert retag("a@sha256:00", {"tag": "x"}, "f") == "a:x"
    assert retag("a:1", {"repository": "mirror/a"}, "f") == "mirror/a:1"


# -- Helm ----------------------------------------------------------------------------------------

def helm_binary() -> Path:
    configured = os.environ.get("HYBRIDCLOUD_BIN_DIR")
    found = Path(configured) / "helm" if configured else None
    if found is None or not found.exists():
        which = shutil.which("helm")
        if which is None:
            missing_tool("helm binary not available (set HYBRIDCLOUD_BIN_DIR)")
        found = Path(which)
    return found


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "values.yaml": "replicas: 1\nimage: {tag: '1.0'}\n",
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels: {app.kubernetes.io/component: web}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:{{ .Values.image.tag }}"}]
""",
    "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: common}\n",
}


def test_a_chart_is_rendered_with_the_values_and_components_from_labels(tmp_path: Path) -> None:
    chart = write(tmp_path / "chart", CHART)
    rendered = asyncio.run(render_chart(chart, release="shop", namespace="prod",
                                        values={"replicas": 4, "image": {"tag": "2.0"}},
                                        helm=helm_binary()))
    assert rendered.components == {"web"}
    deployment = next(m for m in rendered.manifests if m.obj["kind"] == "Deployment")
    assert deployment.obj["metadata"]["name"] == "shop-web"
    assert deployment.obj["spec"]["replicas"] == 4
    assert deployment.origin.startswith("templates/deployment.yaml:")
    assert [m.obj["metadata"]["name"] for m in select(rendered, [], field="x")] == ["common"]


def test_a_broken_template_names_the_template_file_and_line(tmp_path: Path) -> None:
    chart = write(tmp_path / "chart", {**CHART, "templates/cm.yaml":
                                       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                       "  name: {{ .Values.name \n"})
    with pytest.raises(RenderError) as error:
        asyncio.run(render_chart(chart, release="r", namespace="n", values={},
                                 helm=helm_binary()))
    assert error.value.origin.startswith("templates/cm.yaml:"), error.value
    assert "helm template failed" in error.value.message
