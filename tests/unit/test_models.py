"""The pydantic models accept every documented shape and reject what the CRD rejects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hybridcloud.models import HybridCluster, MultiClusterApplication, SecurityPolicy

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
KINDS = {"HybridCluster": HybridCluster, "MultiClusterApplication": MultiClusterApplication,
         "SecurityPolicy": SecurityPolicy}


def sample_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def cluster(**spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "provider": "aws", "region": "us-west-2", "version": "v1.28.0",
        "nodeGroups": [{"name": "workers", "size": 2}],
    }
    spec.update(spec_overrides)
    return {"metadata": {"name": "c1"}, "spec": spec}


def error_locations(exc: ValidationError) -> list[str]:
    return [".".join(str(part) for part in err["loc"]) for err in exc.errors()]


@pytest.mark.parametrize("doc", sample_documents(), ids=lambda d: d["metadata"]["name"])
def test_every_sample_validates_and_round_trips(doc: dict[str, Any]) -> None:
    model = KINDS[doc["kind"]].model_validate(doc)
    again = KINDS[doc["kind"]].model_validate(model.to_kube())
    assert again == model


def test_cluster_defaults_are_filled_in() -> None:
    spec = HybridCluster.model_validate(cluster()).spec
    assert spec.deletion_policy == "Delete"
    assert spec.node_groups[0].role == "worker"


@pytest.mark.parametrize(
    ("overrides", "location", "fragment"),
    [
        ({"provider": "digitalocean"}, "spec.provider", "openstack"),
        ({"nodeGroups": []}, "spec.nodeGroups", "at least 1"),
        ({"nodeGroups": [{"name": "w", "size": 0}]}, "spec.nodeGroups.0.size", "greater than"),
        ({"nodeGroups": [{"name": "w", "size": 1}, {"name": "w", "size": 2}]},
         "spec.nodeGroups", "duplicate node group name 'w'"),
        ({"nodeGroups": [{"name": "w", "size": 2,
                          "autoScaling": {"enabled": True, "minSize": 5, "maxSize": 3}}]},
         "spec.nodeGroups.0.autoScaling", "minSize must be less than or equal to maxSize"),
        ({"nodeGroups": [{"name": "w", "size": 9,
                          "autoScaling": {"enabled": True, "minSize": 1, "maxSize": 3}}]},
         "spec.nodeGroups.0", "size must lie within"),
        ({"networking": {"clusterCIDR": "10.244.0.0/33"}}, "spec.networking.clusterCIDR",
         "not a valid CIDR"),
        ({"networking": {"clusterCIDR": "10.0.0.0/8", "serviceCIDR": "10.96.0.0/12"}},
         "spec.networking", "must not overlap"),
        ({"region": None}, "spec", "region is required"),
        ({"version": "latest"}, "spec.version", "pattern"),
        ({"nodeGroups": [{"name": "Workers", "size": 1}]}, "spec.nodeGroups.0.name", "pattern"),
        ({"unknownField": 1}, "spec.unknownField", "Extra inputs"),
    ],
)
def test_invalid_cluster_specs_are_rejected_naming_the_field(
    overrides: dict[str, Any], location: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        HybridCluster.model_validate(cluster(**overrides))
    assert location in error_locations(caught.value)
    assert fragment in str(caught.value)


def test_missing_required_cluster_fields_are_each_named() -> None:
    with pytest.raises(ValidationError) as caught:
        HybridCluster.model_validate({"spec": {"provider": "aws"}})
    assert "spec.nodeGroups" in set(error_locations(caught.value))
    assert "spec.version" not in set(error_locations(caught.value))  # defaulted by the operator


def test_a_cluster_written_like_the_contracts_crd_example_needs_no_version() -> None:
    spec = HybridCluster.model_validate({"spec": {
        "provider": "gcp", "region": "europe-west1",
        "nodeGroups": [{"name": "workers", "size": 3, "instanceType": "e2-standard-4"}]}}).spec
    assert spec.version is None  # the operator picks the provider's default


def test_local_clusters_need_no_region() -> None:
    assert HybridCluster.model_validate(cluster(provider="local", region=None)).spec.region is None


def application(**spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "source": {"repository": "file:///tmp/repo.git"},
        "placement": [{"cluster": "dev"}],
    }
    spec.update(spec_overrides)
    return {"metadata": {"name": "app"}, "spec": spec}


def test_application_defaults_follow_git_conventions() -> None:
    spec = MultiClusterApplication.model_validate(application()).spec
    assert (spec.source.type, spec.source.path, spec.source.revision) == ("git", ".", "HEAD")
    assert spec.sync_policy.automated and not spec.sync_policy.prune


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"placement": None}, "either placement or placementPolicy is required"),
        ({"placement": [{"cluster": "a"}, {"cluster": "a"}]}, "cluster listed more than once: a"),
        ({"placementPolicy": {"constraints": [{"type": "region_diversity"}]}},
         "region_diversity needs minRegions"),
        ({"placementPolicy": {"strategy": "random"}}, "availability"),
        ({"source": {"repository": "x", "path": "../etc"}}, "stay inside"),
        ({"source": {"repository": "x", "type": "oci"}}, "git"),
    ],
)
def test_invalid_application_specs_are_rejected(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        MultiClusterApplication.model_validate(application(**overrides))
