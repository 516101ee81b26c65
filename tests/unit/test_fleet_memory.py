"""What the operator keeps per HybridCluster (issue 19: 20k clusters under one operator): the
cluster controller keeps one compact copy of each object, and the webhook service keeps only
what events are made of. Memory figures themselves belong to the fleet benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hybridcloud import FINALIZER
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.controllers.hybridcluster import ClusterController
from hybridcloud.controllers.webhooks import WebhookService
from hybridcloud.events.transitions import APPLICATION_KIND, CLUSTER_KIND, events_of
from hybridcloud.feed import Feed
from hybridcloud.kube.tenants import TenantBook
from hybridcloud.models import TenantRules
from hybridcloud.providers.registry import ProviderRegistry

NAMESPACE = "tenant-a"


def _decoded(name: str, uid: str, revision: int) -> dict[str, Any]:
    """A HybridCluster as a watch event or a write's response brings it: freshly decoded."""
    return json.loads(json.dumps({  # type: ignore[no-any-return]
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": uid, "generation": 1,
                     "resourceVersion": str(revision), "finalizers": [FINALIZER],
                     "creationTimestamp": "2026-12-02T09:03:38Z",
                     "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
        "spec": {"provider": "local", "version": "v1.37.2",
                 "nodeGroups": [{"name": "workers", "role": "worker", "size": 2}]},
        "status": {"phase": "Active", "observedGeneration": 1,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Active",
                                   "message": "cluster is ready", "observedGeneration": 1,
                                   "lastTransitionTime": "2026-12-02T09:04:29Z"}],
                   "nodeGroups": [{"name": "workers", "ready": 2, "size": 2}],
                   "transitions": [
                       {"seq": 1, "type": "cluster.created", "time": "2026-12-02T09:04:29Z",
                        "phase": "Creating"},
                       {"seq": 2, "type": "cluster.ready", "time": "2026-12-02T09:04:29Z",
                        "phase": "Active"}]}}))


def _controller(tmp_path: Path) -> ClusterController:
    config = OperatorConfig(delivery_dir=tmp_path / "delivery", local_dir=tmp_path / "local")
    client: Any = object()  # observe() never talks to Kubernetes
    return ClusterController(client, client, config, Feed(),
                             ProviderRegistry(local_dir=tmp_path / "local"),
                             TenantBook(client, TenantRules()))


async def test_the_cluster_controller_stores_what_clusters_share_once(tmp_path: Path) -> None:
    controller = _controller(tmp_path)
    first, second = _decoded("a", "uid-a", 10), _decoded("b", "uid-b", 11)
    controller.observe("ADDED", first)
    controller.observe("ADDED", second)

    a, b = controller.bodies[(NAMESPACE, "a")], controller.bodies[(NAMESPACE, "b")]
    ready_a, ready_b = a["status"]["conditions"][0], b["status"]["conditions"][0]
    assert ready_a["message"] is ready_b["message"]  # one string for the whole fleet
    assert a["spec"]["provider"] is b["spec"]["provider"]
    assert next(iter(ready_a)) is next(iter(ready_b))  # the keys too
    assert "managedFields" not in a["metadata"]
    # Equal to what was decoded (writes diff against it), but not kopf's event kept alive.
    assert a["status"] == first["status"] and a["spec"] == first["spec"]
    assert a["status"] is not first["status"] and a["spec"] is not first["spec"]


async def test_the_webhook_caches_keep_only_what_events_are_made_of(tmp_path: Path) -> None:
    config = OperatorConfig(delivery_dir=tmp_path / "delivery", local_dir=tmp_path / "local",
                            watched_namespaces=[NAMESPACE])
    client: Any = object()  # the caches are not started: nothing is listed
    service = WebhookService(client, client, config)
    cluster = _decoded("a", "uid-a", 10)

    kept = service.clusters.keep(cluster)

    assert kept == {
        "metadata": {"name": "a", "namespace": NAMESPACE, "uid": "uid-a",
                     "resourceVersion": "10", "creationTimestamp": "2026-12-02T09:03:38Z"},
        "spec": {"provider": "local"},
        "status": {"transitions": cluster["status"]["transitions"]}}
    assert events_of(CLUSTER_KIND, kept) == events_of(CLUSTER_KIND, cluster)

    application = {"metadata": {**cluster["metadata"], "name": "web"},
                   "spec": {"placement": {"clusters": ["a"]}},
                   "status": {"phase": "Deployed", "placedClusters": ["a"],
                              "sourceRevision": "abc",
                              "transitions": [{"seq": 1, "type": "application.deployed",
                                               "time": "2026-12-02T09:04:29Z",
                                               "phase": "Deployed", "revision": "abc"}]}}
    kept_application = service.applications.keep(application)
    assert "spec" not in kept_application and "phase" not in kept_application["status"]
    assert events_of(APPLICATION_KIND, kept_application) == \
        events_of(APPLICATION_KIND, application)
