"""The committed CRDs are exactly what the models generate, and they are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hybridcloud import crdgen

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_committed_crds_match_the_models() -> None:
    assert crdgen.main(["--check", "--out", str(CRDS)]) == 0, "run `make crds` and commit"


def test_drift_check_fails_when_a_crd_is_stale(tmp_path: Path) -> None:
    crdgen.main(["--out", str(tmp_path)])
    victim = tmp_path / "platform.example.com_hybridclusters.yaml"  # has "minimum: 1"
    victim.write_text(victim.read_text().replace("minimum: 1", "minimum: 0", 1))
    assert crdgen.main(["--check", "--out", str(tmp_path)]) == 1


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for name, sub in node.get("properties", {}).items():
            found.extend(walk(sub, f"{path}.{name}"))
        if isinstance(node.get("items"), dict):
            found.extend(walk(node["items"], f"{path}[]"))
        if isinstance(node.get("additionalProperties"), dict):
            found.extend(walk(node["additionalProperties"], f"{path}{{}}"))
    return found


@pytest.mark.parametrize("kind", crdgen.KINDS, ids=lambda k: k.KIND)
def test_schema_is_structural_and_documented(kind: Any) -> None:
    schema = crdgen.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in walk(schema):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert node.get("default", "") is not None, path
        scalar_item = path.endswith(("[]", "{}")) and node.get("type") != "object"
        if path.startswith((".spec", ".status")) and not scalar_item:
            assert node.get("description"), f"{path} has no description for kubectl explain"


def test_hybridcluster_schema_carries_the_contract_rules() -> None:
    version = crdgen.crd(crdgen.KINDS[0])["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["provider"]["enum"] == ["openstack", "aws", "gcp", "azure", "local"]
    groups = spec["properties"]["nodeGroups"]
    assert groups["minItems"] == 1 and groups["x-kubernetes-list-map-keys"] == ["name"]
    assert groups["items"]["properties"]["size"]["minimum"] == 1
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["phase"]["enum"] == [
        "Pending", "Creating", "Active", "Updating", "Deleting", "Failed"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Provider", "Region", "Version", "Phase", "Ready", "Nodes", "Endpoint", "Age"]
