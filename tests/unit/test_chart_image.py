"""The Dockerfile the chart's image comes from: what can be checked without building it.

(No container builder on this machine.) Multi-stage, pinned non-``latest`` base without a
registry host, non-root user matching the chart's securityContext, the one entry point with
two commands, and a build context that contains what the build copies.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    parsed = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            parsed.append((keyword.upper(), rest.strip()))
    return parsed


def build_args() -> dict[str, str]:
    found = {}
    for keyword, rest in instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            found[name] = value
    return found


def base_images() -> list[str]:
    args = build_args()
    images = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return images


def test_build_is_multi_stage_and_the_runtime_copies_only_from_its_build_stages() -> None:
    froms = [rest for keyword, rest in instructions() if keyword == "FROM"]
    assert len(froms) >= 3
    stages = [rest.split()[-1] for rest in froms if " AS " in rest.upper()]
    assert {"build", "tools"} <= set(stages)
    copies_from = [rest for keyword, rest in instructions()
                   if keyword == "COPY" and rest.startswith("--from=")]
    assert copies_from and all(rest.startswith(("--from=build ", "--from=tools "))
                               for rest in copies_from)


def test_the_image_carries_helm_and_kubectl_where_the_operator_looks_for_them() -> None:
    """Helm-chart sources need helm and kustomize sources kubectl: built from the tests' pinned
    modules and found through HYBRIDCLOUD_BIN_DIR."""
    env = " ".join(rest for keyword, rest in instructions() if keyword == "ENV")
    assert "HYBRIDCLOUD_BIN_DIR=/opt/hybridcloud/tools" in env
    copies = [rest for keyword, rest in instructions() if keyword == "COPY"]
    assert "--from=tools /out/helm /out/kubectl /opt/hybridcloud/tools/" in copies
    builds = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "helm.sh/helm/v3/cmd/helm" in builds and "k8s.io/kubernetes/cmd/kubectl" in builds


def test_the_image_carries_trivy_where_the_scanner_looks_for_it_by_default() -> None:
    """Security scans run Trivy at the operator's default scanner path, built from the tests'
    pinned module with the build tag Trivy's release sets."""
    from hybridcloud.controllers.config import OperatorConfig
    default = OperatorConfig.model_fields["scanner_trivy_path"].default
    copies = [rest for keyword, rest in instructions() if keyword == "COPY"]
    assert f"--from=tools /out/trivy {default}" in copies
    builds = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "github.com/aquasecurity/trivy/cmd/trivy" in builds
    assert "-tags=goexperiment.jsonv2" in builds


def test_base_images_are_pinned_to_a_versioned_tag_without_a_registry_host() -> None:
    for image in base_images():
        name, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.match(r"\d+\.\d+\.\d+", tag), image
        first = name.split("/")[0]
        assert "/" not in name or ("." not in first and ":" not in first), image


def test_runtime_user_is_numeric_non_root_and_matches_the_chart() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users, "no USER instruction: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    values = yaml.safe_load((ROOT / "charts" / "hybridcloud" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid)


def test_entry_point_serves_both_commands_of_the_one_image() -> None:
    entry = [rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"]
    assert [json.loads(e) for e in entry] == [["python", "-m", "hybridcloud"]]
    command = [json.loads(rest) for keyword, rest in instructions() if keyword == "CMD"][-1]
    assert command[0] == "operator"
    ports = {p for keyword, rest in instructions() if keyword == "EXPOSE" for p in rest.split()}
    assert {"8000", "8080"} <= ports


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/") or \
                fnmatch.fnmatch(path, pattern.replace("**/", "*/")):
            verdict = not negated
    return verdict


def test_build_context_contains_everything_the_build_copies() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = []
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from="):
            sources.extend(shlex.split(rest)[:-1])
    assert sources
    for source in sources:
        path = source.rstrip("/")
        assert (ROOT / path).exists(), source
        assert not ignored(path, patterns), f"{source} is excluded by .dockerignore"
    assert ignored(".venv", patterns) and ignored("tests", patterns)
    assert ignored("operator/hybridcloud/__pycache__", patterns)
