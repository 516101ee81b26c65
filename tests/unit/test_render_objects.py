"""Delivered objects: ownership stamps, dependency order, drift comparison and live health."""

from __future__ import annotations

from typing import Any

from hybridcloud.delivery import objects as o
from hybridcloud.models.application import Health


def test_stamp_adds_ownership_without_touching_the_source() -> None:
    source = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "a", "labels": {"x": "1"}}}
    stamped = o.stamp(source, "uid-1", "ns/app")
    assert stamped["metadata"]["labels"] == {"x": "1", o.MANAGED_BY: "hybridcloud",
                                             o.APP_LABEL: "uid-1"}
    assert stamped["metadata"]["annotations"] == {o.APP_NAME_ANNOTATION: "ns/app"}
    assert source["metadata"]["labels"] == {"x": "1"}
    assert o.owned_by(stamped, "uid-1") and not o.owned_by(stamped, "uid-2")


def test_definitions_and_namespaces_come_first_and_webhooks_last() -> None:
    kinds = ["ValidatingWebhookConfiguration", "Deployment", "Service", "Namespace", "Widget",
             "CustomResourceDefinition", "ConfigMap"]
    ordered = sorted(kinds, key=o.order_key)
    assert ordered[:2] == ["CustomResourceDefinition", "Namespace"]
    assert ordered.index("ConfigMap") < ordered.index("Deployment")
    assert ordered[-1] == "ValidatingWebhookConfiguration"
    keys = [o.ObjectKey("v1", k, None, "x") for k in kinds]
    assert sorted(keys, key=o.delete_order_key)[-1].kind == "CustomResourceDefinition"


def test_fingerprint_ignores_order_but_not_content() -> None:
    a = {"kind": "A", "metadata": {"name": "a"}}
    b = {"kind": "B", "metadata": {"name": "b"}}
    assert o.fingerprint([a, b]) == o.fingerprint([b, a])
    assert o.fingerprint([a]) != o.fingerprint([{**a, "data": {"x": "1"}}])


def test_drift_compares_only_fields_we_set() -> None:
    desired = {"spec": {"replicas": 3, "ports": [{"port": 80, "targetPort": 8080}]}}
    live = {"spec": {"replicas": 3, "strategy": {}, "ports": [
        {"port": 80, "targetPort": "8080", "protocol": "TCP"}]}, "status": {}}
    assert o.drift(desired, live) is None
    assert o.drift(desired, {"spec": {**live["spec"], "replicas": 1}}) == ".spec.replicas"
    assert o.drift(desired, {"spec": {"replicas": 3, "ports": []}}) == ".spec.ports"
    assert o.drift({"a": {"b": None, "c": {}}}, {"a": {}}) is None
    assert o.drift({"x": True}, {"x": "True"}) == ".x"


def test_stored_drift_compares_what_the_apiserver_stores_on_the_fields_we_set() -> None:
    desired = {"spec": {"containers": [{"name": "app", "resources": {
        "limits": {"cpu": 0.5, "memory": "1024Mi"}}}]}}
    # A server-side-apply dry run of ``desired``: canonical quantities, defaults filled in.
    would_store = {"spec": {"containers": [{"name": "app", "imagePullPolicy": "Always",
                                            "resources": {"limits": {"cpu": "500m",
                                                                     "memory": "1Gi"}}}]}}
    assert o.drift(desired, would_store) is not None  # text comparison sees a difference
    assert o.stored_drift(desired, would_store, would_store) is None
    edited = {"spec": {"containers": [{"name": "app", "imagePullPolicy": "Always",
                                       "resources": {"limits": {"cpu": "2",
                                                                "memory": "1Gi"}}}]}}
    assert o.stored_drift(desired, would_store, edited) == ".spec.containers[0].resources" \
        ".limits.cpu"
    # A field that only the dry run's defaults differ on is not one we set: not drift.
    other_default = {"spec": {"containers": [{**would_store["spec"]["containers"][0],
                                              "imagePullPolicy": "IfNotPresent"}]}}
    assert o.stored_drift(desired, would_store, other_default) is None
    removed = {"spec": {"containers": []}}
    assert o.stored_drift(desired, would_store, removed) == ".spec.containers"


def deployment(replicas: int, available: int, updated: int | None = None,
               observed: int = 2, **extra: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "availableReplicas": available,
                       "updatedReplicas": available if updated is None else updated,
                       "readyReplicas": available, **extra}}


def test_deployment_health_follows_its_status() -> None:
    assert o.workload_health(deployment(3, 3)) == Health.HEALTHY
    assert o.workload_health(deployment(3, 1)) == Health.PROGRESSING
    assert o.workload_health(deployment(3, 3, observed=1)) == Health.PROGRESSING
    assert o.workload_health(deployment(3, 3, updated=2)) == Health.PROGRESSING
    stuck = deployment(3, 1, conditions=[{"type": "Progressing",
                                          "reason": "ProgressDeadlineExceeded"}])
    assert o.workload_health(stuck) == Health.DEGRADED
    assert o.workload_health(None) == Health.MISSING
    assert o.ready_pods(deployment(3, 2)) == 2


def test_statefulset_and_daemonset_health() -> None:
    sts = {"kind": "StatefulSet", "spec": {"replicas": 2},
           "status": {"readyReplicas": 2, "currentRevision": "r1", "updateRevision": "r1"}}
    assert o.workload_health(sts) == Health.HEALTHY
    sts["status"]["updateRevision"] = "r2"
    assert o.workload_health(sts) == Health.PROGRESSING
    ds = {"kind": "DaemonSet", "status": {"desiredNumberScheduled": 2, "numberAvailable": 2,
                                          "updatedNumberScheduled": 2, "numberReady": 2}}
    assert o.workload_health(ds) == Health.HEALTHY and o.ready_pods(ds) == 2


def test_worst_health_wins() -> None:
    assert o.worst([Health.HEALTHY, Health.PROGRESSING]) == Health.PROGRESSING
    assert o.worst([Health.DEGRADED, Health.MISSING]) == Health.MISSING
    assert o.worst([]) == Health.HEALTHY


def test_apply_waves_put_namespaces_and_definitions_before_what_lives_in_them() -> None:
    kinds = ["ValidatingWebhookConfiguration", "Deployment", "ConfigMap", "LimitRange",
             "Namespace", "Service", "CustomResourceDefinition", "Widget"]
    waves = {kind: o.apply_wave(kind) for kind in kinds}
    assert waves["Namespace"] == waves["CustomResourceDefinition"] < waves["LimitRange"]
    assert waves["LimitRange"] < waves["ConfigMap"] < waves["ValidatingWebhookConfiguration"]


def test_ordinary_objects_share_one_apply_wave_so_they_are_applied_together() -> None:
    assert {o.apply_wave(kind) for kind in ("ConfigMap", "Secret", "Service", "ServiceAccount",
                                          "Role", "RoleBinding", "Deployment", "Widget")} \
        == {o.apply_wave("Deployment")}
