"""The cluster controller's copy of every HybridCluster, indexed by namespace: quotas read the
cluster's own namespace, and a pass under no quota reads no other cluster at all (with 20k
clusters, copying the whole fleet on every pass was 83% of the operator's time, issue 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hybridcloud import FINALIZER
from hybridcloud.controllers import hybridcluster
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.controllers.hybridcluster import ClusterController
from hybridcloud.controllers.keyed import Bodies
from hybridcloud.feed import Feed
from hybridcloud.kube.tenants import TenantBook
from hybridcloud.models import TenantRules
from hybridcloud.models.tenantpolicy import ClusterRules
from hybridcloud.providers.registry import ProviderRegistry


def cluster(namespace: str, name: str, created: str = "2026-01-01T00:00:00Z",
            **status: Any) -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                         "generation": 1, "resourceVersion": "10", "finalizers": [FINALIZER],
                         "creationTimestamp": created},
            "spec": {"provider": "local", "region": "home", "version": "1.37",
                     "credentialsRef": {"name": "mine"},
                     "nodeGroups": [{"name": "workers", "size": 1}]},
            "status": status}


def controller(tmp_path: Path, rules: TenantRules) -> ClusterController:
    config = OperatorConfig(delivery_dir=tmp_path / "delivery", local_dir=tmp_path / "local")
    client: Any = object()
    return ClusterController(client, client, config, Feed(),
                             ProviderRegistry(local_dir=tmp_path / "local"),
                             TenantBook(client, rules))


def refusal(ctl: ClusterController, body: dict[str, Any]) -> Any:
    return ctl._tenant_refusal(hybridcluster._view(body, None), body)


def test_each_namespace_lists_exactly_its_current_bodies() -> None:
    bodies = Bodies()
    bodies[("a", "one")] = cluster("a", "one")
    bodies[("a", "two")] = cluster("a", "two")
    bodies[("b", "one")] = cluster("b", "one")
    newer = cluster("a", "one", phase="Active")
    bodies[("a", "one")] = newer
    assert [b["metadata"]["name"] for b in bodies.in_namespace("a")] == ["one", "two"]
    assert bodies.in_namespace("a")[0] is newer
    bodies.pop(("a", "two"))
    del bodies[("b", "one")]
    assert [b["metadata"]["name"] for b in bodies.in_namespace("a")] == ["one"]
    assert bodies.in_namespace("b") == [] and len(bodies) == 1
    assert bodies.pop(("b", "one"), None) is None


def test_a_pass_under_no_quota_reads_no_other_cluster(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ctl = controller(tmp_path, TenantRules())
    ctl.bodies[("a", "one")] = cluster("a", "one")

    def refuse(namespace: str) -> list[dict[str, Any]]:
        raise AssertionError("the namespace's clusters were read without a quota")

    monkeypatch.setattr(ctl.bodies, "in_namespace", refuse)
    assert refusal(ctl, cluster("a", "new")) is None


def test_a_cluster_quota_counts_the_clusters_of_its_own_namespace_only(tmp_path: Path) -> None:
    ctl = controller(tmp_path, TenantRules(clusters=ClusterRules(max_clusters=2)))
    for name in ("x", "y", "z"):
        ctl.bodies[("other", name)] = cluster("other", name, providerID=name)
    ctl.bodies[("a", "old")] = cluster("a", "old", providerID="old")
    newest = cluster("a", "new", created="2026-02-01T00:00:00Z")
    ctl.bodies[("a", "new")] = newest
    assert refusal(ctl, newest) is None  # one other cluster in "a": room for a second
    ctl.bodies[("a", "mid")] = cluster("a", "mid", created="2026-01-15T00:00:00Z")
    refused = refusal(ctl, newest)
    assert refused is not None and "already has 2 cluster(s)" in refused.message
