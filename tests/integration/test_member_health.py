"""Member health end to end: the real operator probing three `local` members (real control
planes with kwok nodes), members frozen with SIGSTOP, nodes made NotReady by stopping kwok,
and a member whose control plane dies (HybridCluster `Failed`).

Short settings keep it quick: probes every second (2 s timeout), Ready=False within a 10 s
grace period, applications fail over 15 s after that. The tests share the members and run in
order (each leaves the fleet healthy, except the last, which kills a member).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event

from hybridcloud.api.routes.multicluster import application_counts, cluster_counts
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .harness import (
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
    get_cluster,
)
from .test_application_delivery import Repo, create_app, get_app, members, sample_files, wait_app

pytestmark = pytest.mark.integration
GRACE = 10.0
FAILOVER = 15
# Rolling out on a member (render, apply, kwok marking the pod ready) on a loaded machine.
ROLLOUT = 60.0
# The shared fixture: east, west (pool=main), north (pool=spare), regions local-a, -b, -c.
__all__ = ["members"]


@pytest.fixture(scope="module")
def app_namespace(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "health") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, app_namespace: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, app_namespace,
                           tmp_path_factory.mktemp("operator"),
                           HYBRIDCLOUD_OPERATOR_HEALTH_PROBE_INTERVAL="1",
                           HYBRIDCLOUD_OPERATOR_HEALTH_PROBE_TIMEOUT="2",
                           HYBRIDCLOUD_OPERATOR_HEALTH_GRACE_PERIOD=str(GRACE),
                           HYBRIDCLOUD_OPERATOR_HEALTH_RECOVER_AFTER="3") as process:
        yield process


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    repository = Repo(tmp_path_factory.mktemp("repo"))
    repository.commit(sample_files())
    return repository


# -- helpers ---------------------------------------------------------------------------------------

def component_pid(operator: OperatorProcess, kube: Client, namespace: str, cluster: str,
                  component: str) -> int:
    """The pid of one process of a `local` member, from the state its supervisor records."""
    obj = get_cluster(kube, namespace, cluster)
    assert obj is not None
    state = json.loads((operator.workdir / "local" / obj["status"]["providerName"] / "cp" /
                        "state.json").read_text())
    return next(int(c["pid"]) for c in state["components"] if c["name"] == component)


def ready_of(kube: Client, namespace: str, cluster: str) -> dict[str, Any]:
    return dict(condition(get_cluster(kube, namespace, cluster), "Ready") or {})


def wait_ready(kube: Client, namespace: str, cluster: str, operator: OperatorProcess,
               status: str, reason: str | None, timeout: float) -> float:
    """Seconds until the cluster's Ready condition has ``status`` (and ``reason``)."""
    started = time.monotonic()
    eventually(lambda: (lambda r: r if r.get("status") == status and
                        (reason is None or r.get("reason") == reason) else None)(
        ready_of(kube, namespace, cluster)), timeout=timeout, interval=0.2,
        message=lambda: f"{cluster}: Ready={status}/{reason} not reached: "
        f"{ready_of(kube, namespace, cluster)}\n{operator.tail(30)}")
    return time.monotonic() - started


def running_on(client: Client, namespace: str) -> bool:
    try:
        deployment = client.get(Deployment, "sample-app", namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return bool(deployment.status and (deployment.status.readyReplicas or 0) >= 1)


def status(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def deployment_of(obj: dict[str, Any], cluster: str) -> dict[str, Any]:
    return next((d for d in (obj.get("status") or {}).get("deployments") or []
                 if d["cluster"] == cluster), {})


def regions_of(kube: Client, namespace: str, clusters: list[str]) -> set[str]:
    return {str((get_cluster(kube, namespace, c) or {})["spec"]["region"]) for c in clusters}


def counts(kube: Client, namespace: str) -> tuple[Any, Any]:
    clusters = [dict(c.to_dict())  # type: ignore[no-untyped-call]
                for c in kube.list(HybridClusterResource, namespace=namespace)]
    apps = [dict(a.to_dict())  # type: ignore[no-untyped-call]
            for a in kube.list(MultiClusterApplicationResource, namespace=namespace)]
    return cluster_counts(clusters), application_counts(apps)


def diverse_policy() -> dict[str, Any]:
    return {"strategy": "availability", "clusterCount": 2,
            "constraints": [{"type": "region_diversity", "minRegions": 2}],
            "failover": {"enabled": True, "gracePeriodSeconds": FAILOVER}}


# -- tests -----------------------------------------------------------------------------------------

def test_a_frozen_member_is_unreachable_within_the_grace_period_and_its_apps_fail_over_and_back(
    kube: Client, app_namespace: str, operator: OperatorProcess, members: dict[str, Client],
    repo: Repo,
) -> None:
    ns = app_namespace
    # "pinned" lives on north (pool=spare); when north is lost it may only stand in on a
    # pool=main cluster.
    create_app(kube, ns, "pinned", repo, "k8s/manifests", targetNamespace="pinned",
               placement=[{"cluster": "north"}],
               placementPolicy={"clusterSelector": {"matchLabels": {"pool": "main"}},
                                "clusterCount": 1,
                                "failover": {"gracePeriodSeconds": FAILOVER}})
    create_app(kube, ns, "diverse", repo, "k8s/manifests", targetNamespace="diverse",
               placementPolicy=diverse_policy())
    pinned = wait_app(kube, ns, "pinned", operator,
                      lambda o: status(o).get("phase") == "Deployed", "Deployed", ROLLOUT)
    assert pinned["status"]["placedClusters"] == ["north"]
    diverse = wait_app(kube, ns, "diverse", operator,
                       lambda o: status(o).get("phase") == "Deployed", "Deployed", ROLLOUT)
    placed = diverse["status"]["placedClusters"]
    assert len(regions_of(kube, ns, placed)) == 2
    # Both apps run on north (ties between equal clusters are broken by name): freeze it.
    victim = "north"
    assert victim in placed, placed
    assert counts(kube, ns)[0].offline == 0

    apiserver = component_pid(operator, kube, ns, victim, "kube-apiserver")
    os.kill(apiserver, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        took = wait_ready(kube, ns, victim, operator, "False", "MemberUnreachable",
                          timeout=GRACE + 20)
        # Within the grace period, plus the status write and this poll on a loaded machine.
        assert took <= GRACE + 2, f"Ready=False after {took:.1f}s (grace {GRACE}s)"
        obj = get_cluster(kube, ns, victim)
        assert obj is not None and obj["status"]["phase"] == "Active"  # the cloud untouched
        assert obj["status"]["nodes"]["ready"] == 0
        assert "does not answer" in ready_of(kube, ns, victim)["message"]
        events = [e for e in kube.list(Event, namespace=ns)
                  if e.reason == "ClusterUnreachable" and e.involvedObject.name == victim]
        assert events and events[0].type == "Warning"
        cluster_summary, _ = counts(kube, ns)
        assert cluster_summary.offline == 1 and cluster_summary.healthy == 2

        # At once: the deployment there is degraded (not yet moved).
        degraded = wait_app(kube, ns, "diverse", operator,
                            lambda o: deployment_of(o, victim).get("health") == "Degraded",
                            "deployment degraded", 10)
        assert victim in degraded["status"]["placedClusters"]
        assert degraded["status"]["phase"] == "Degraded"
        assert counts(kube, ns)[1].degraded >= 1

        # After the failover period: running on an eligible spare, the constraint still met.
        moved = wait_app(kube, ns, "diverse", operator,
                         lambda o: victim not in (status(o).get("placedClusters") or []),
                         "failed over", FAILOVER + 20)
        placed_now = moved["status"]["placedClusters"]
        assert len(regions_of(kube, ns, placed_now)) == 2, placed_now
        spare = next(c for c in placed_now if c not in placed)
        eventually(lambda: running_on(members[spare], "diverse"), timeout=ROLLOUT,
                   message=lambda: f"sample-app not running on {spare}\n{operator.tail(30)}")
        failed_over = time.monotonic() - frozen_at
        pinned_moved = wait_app(kube, ns, "pinned", operator,
                                lambda o: status(o).get("placedClusters") in (["east"],
                                                                                ["west"]),
                                "pinned on a pool=main cluster", 30)
        stand_in = pinned_moved["status"]["placedClusters"][0]
        eventually(lambda: running_on(members[stand_in], "pinned"), timeout=ROLLOUT)
        print(f"Ready=False after {took:.1f}s; failed over after {failed_over:.1f}s")
    finally:
        os.kill(apiserver, signal.SIGCONT)

    wait_ready(kube, ns, victim, operator, "True", None, timeout=60)
    # "pinned" returns to its explicit cluster; "diverse" stays where it is (placement prefers
    # the clusters an app is on: no move back and forth).
    back = wait_app(kube, ns, "pinned", operator,
                    lambda o: status(o).get("placedClusters") == ["north"] and
                    status(o).get("phase") == "Deployed", "back on north", ROLLOUT)
    assert [d["cluster"] for d in back["status"]["deployments"]] == ["north"]
    assert running_on(members["north"], "pinned")
    assert (get_app(kube, ns, "diverse") or {})["status"]["placedClusters"] == placed_now
    assert any(e.reason == "ClusterRecovered" and e.involvedObject.name == victim
               for e in kube.list(Event, namespace=ns))
    assert counts(kube, ns)[0].offline == 0


def test_a_member_whose_nodes_all_go_not_ready_is_marked_nodes_not_ready(
    kube: Client, app_namespace: str, operator: OperatorProcess, members: dict[str, Client],
) -> None:
    ns = app_namespace
    wait_ready(kube, ns, "west", operator, "True", None, timeout=30)
    kwok = component_pid(operator, kube, ns, "west", "kwok")
    os.kill(kwok, signal.SIGSTOP)
    try:
        # The member's node controller marks nodes NotReady only once their leases expire
        # (40 s lease + its grace period), then the probes report it within our grace period.
        wait_ready(kube, ns, "west", operator, "False", "NodesNotReady", timeout=150)
        obj = get_cluster(kube, ns, "west")
        assert obj is not None and obj["status"]["nodes"]["ready"] == 0
        assert "nodes is Ready" in ready_of(kube, ns, "west")["message"]
    finally:
        os.kill(kwok, signal.SIGCONT)
    wait_ready(kube, ns, "west", operator, "True", None, timeout=120)


def test_a_cluster_going_failed_moves_its_applications_at_once(
    kube: Client, app_namespace: str, operator: OperatorProcess, members: dict[str, Client],
) -> None:
    ns = app_namespace
    placed = (get_app(kube, ns, "diverse") or {})["status"]["placedClusters"]
    victim = next(c for c in placed if c != "east")
    # Killing one process of a local member makes its supervisor stop the whole control plane:
    # the provider then reports the cluster failed.
    os.kill(component_pid(operator, kube, ns, victim, "kube-scheduler"), signal.SIGKILL)
    eventually(lambda: (get_cluster(kube, ns, victim) or {}).get("status", {}).get("phase")
               == "Failed" or None, timeout=60,
               message=lambda: f"{victim} not Failed\n{operator.tail(30)}")
    moved = wait_app(kube, ns, "diverse", operator,
                     lambda o: victim not in (status(o).get("placedClusters") or []),
                     "moved off the failed cluster", 30)
    placed_now = moved["status"]["placedClusters"]
    assert len(regions_of(kube, ns, placed_now)) == 2, placed_now
    spare = next(c for c in placed_now if c not in placed)
    eventually(lambda: running_on(members[spare], "diverse"), timeout=ROLLOUT,
               message=lambda: f"sample-app not running on {spare}\n{operator.tail(30)}")
    assert counts(kube, ns)[0].offline == 1
