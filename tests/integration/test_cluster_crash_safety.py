"""SIGKILL the operator while a create or delete call is in flight at the cloud: every cluster
converges, the cloud saw exactly one create call per cluster, and nothing leaks.

A kill on a fixed timetable mostly lands before the operator calls the cloud at all, proving
little. Here the fake holds the create (or delete) request at a gate: the operator has sent it
and is waiting for the answer when it is killed; the cloud then carries it out with nobody left
to read the answer, and the restarted operator must adopt the result instead of repeating it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource
from tests.fakes.server import FakeServer, Gate

from .clouds import CLOUDS, Cloud
from .harness import OperatorProcess, eventually, get_cluster

pytestmark = pytest.mark.integration

CLUSTERS = 6
KILLS = 3  # per phase: during creates, then during deletes

# The request that asks each cloud to create / delete a cluster (method, path regex).
CREATE_CALL = {"aws": ("POST", r"^/clusters$"), "gcp": ("POST", r"/clusters$"),
               "azure": ("PUT", r"/managedClusters/[^/]+$"),
               "openstack": ("POST", r"^/v1/clusters$")}
DELETE_CALL = {"aws": ("DELETE", r"^/clusters/[^/]+$"), "gcp": ("DELETE", r"/clusters/[^/]+$"),
               "azure": ("DELETE", r"/managedClusters/[^/]+$"),
               "openstack": ("DELETE", r"^/v1/clusters/[^/]+$")}


@pytest.fixture(params=sorted(CLOUDS))
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    fake: Cloud = CLOUDS[request.param]()
    fake.start()
    yield fake
    fake.stop()


def kill_during_calls(operator: OperatorProcess, gate: Gate, server: FakeServer) -> int:
    """SIGKILL the operator KILLS times, each while a call is held at ``gate``; returns how
    many kills interrupted a call in flight. The gate stays open afterwards."""
    interrupted = 0
    for _ in range(KILLS):
        gate.close()
        if not gate.wait_arrival(timeout=90):
            break  # no further call came: the remaining work did not need one
        operator.kill()
        interrupted += 1
        gate.open()  # the cloud now acts on the request nobody will read the answer to
        eventually(gate.drained, timeout=30, message="the held request was not handled")
        # Other requests the dead operator had sent may still sit in socket buffers: the cloud
        # acts on those too before the restarted operator looks, as it would on a request that
        # reached it before the crash. (Started earlier, the new operator would race them and
        # send a second create the cloud has to refuse: a create the test forbids.)
        eventually(server.idle, timeout=30, message="the killed operator's calls were not read")
        gate.forget_arrivals()  # calls held together with this one are not the next kill's
        operator.start()
    gate.open()
    return interrupted


def test_sigkills_while_cloud_calls_are_in_flight_never_duplicate_or_leak(
    management: ControlPlane, kube: Client, namespace: str, tmp_path: Path, cloud: Cloud
) -> None:
    kube.create(Secret(metadata=ObjectMeta(name=f"hybridcloud-{cloud.provider}-credentials",
                                           namespace=namespace),
                       stringData=cloud.credentials()))
    creating = cloud.server.gate(*CREATE_CALL[cloud.provider])
    creating.close()
    deleting = cloud.server.gate(*DELETE_CALL[cloud.provider])
    operator = OperatorProcess(management.kubeconfig, namespace, tmp_path)
    operator.start()
    names = [f"crash-{i}" for i in range(CLUSTERS)]
    creates_before = cloud.create_requests()
    try:
        for name in names:
            kube.create(HybridClusterResource.from_dict({
                "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
                "metadata": {"name": name},
                "spec": {"provider": cloud.provider, "region": cloud.region,
                         "version": cloud.version, **cloud.options(),
                         "nodeGroups": [{"name": "workers", "size": 1,
                                         "instanceType": cloud.instance_type}]}}),
                namespace=namespace)
        # Every kill lands on a held call by construction; how many there are depends on how
        # many calls the operator still had to make (it may send all creates at once).
        killed_creating = kill_during_calls(operator, creating, cloud.server)
        assert killed_creating >= 1 and creating.held >= killed_creating

        def all_active() -> list[str] | None:
            objs = [get_cluster(kube, namespace, n) for n in names]
            if all(o and (o.get("status") or {}).get("phase") == "Active" for o in objs):
                return [o["status"]["providerName"] for o in objs if o]
            return None

        provider_names = eventually(all_active, timeout=240, message=lambda: (
            f"not all Active: {phases(kube, namespace, names)}\n{operator.tail()}"))
        # The restarted operator found each interrupted create's cluster by its deterministic
        # name and never sent that create again: exactly one create call per cluster reached
        # the cloud (a repeat the cloud refuses counts too).
        attempts = cloud.create_requests() - creates_before
        assert len(attempts) == CLUSTERS and set(attempts.values()) == {1}, \
            f"create calls per cluster: {dict(attempts)}"
        assert len(set(provider_names)) == CLUSTERS
        assert all(cloud.exists(name) for name in provider_names)

        for name in names:
            kube.delete(HybridClusterResource, name, namespace=namespace)
        killed_deleting = kill_during_calls(operator, deleting, cloud.server)
        assert killed_deleting >= 1 and deleting.held >= killed_deleting
        eventually(lambda: all(get_cluster(kube, namespace, n) is None for n in names),
                   timeout=240, message=lambda: f"{phases(kube, namespace, names)}\n"
                                                f"{operator.tail()}")
        # No cluster under any other name survived: nothing was created twice or leaked.
        assert cloud.empty(), "the cloud still holds clusters the platform created"
        assert cloud.create_requests() - creates_before == attempts
        assert operator.starts == killed_creating + killed_deleting + 1
    finally:
        creating.open()
        deleting.open()
        operator.stop()


def phases(kube: Client, namespace: str, names: list[str]) -> list[Any]:
    return [((get_cluster(kube, namespace, n) or {}).get("status") or {}).get("phase")
            for n in names]


def local_home(root: Path, name: str) -> Path | None:
    """The folder of the `local` cluster for HybridCluster ``name`` (named after its provider
    name, hc-<name>-<hash>), once the operator made it."""
    found = sorted(root.glob(f"hc-{name}-*"))
    assert len(found) <= 1, f"two control planes for {name}: {found}"
    return found[0] if found else None


def supervisor_of(home: Path | None) -> int | None:
    """The pid of the `local` cluster's control-plane supervisor, once one was started."""
    try:
        return int((home / "supervisor.pid").read_text()) if home else None
    except (FileNotFoundError, ValueError):
        return None


def stopping(home: Path) -> bool:
    """A `controlplane down` of this `local` cluster is running: its delete is in flight."""
    wanted = ["hybridcloud.controlplane", "down", "--dir", str(home / "cp")]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # exited meanwhile
        if all(part in args for part in wanted):
            return True
    return False


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_sigkills_while_local_control_planes_start_or_stop_never_start_twice_or_leak(
    management: ControlPlane, kube: Client, namespace: str, tmp_path: Path
) -> None:
    """`local` has no cloud API to hold a call at: its create is in flight from the moment the
    control-plane supervisor is started until that plane records its state, its delete while
    `controlplane down` runs. Killing the operator in the first window must not start a second
    control plane for the cluster, in the second it must not leak one."""
    operator = OperatorProcess(management.kubeconfig, namespace, tmp_path)
    operator.start()
    names = ["crash-a", "crash-b"]
    root = tmp_path / "local"
    supervisors: dict[str, int] = {}
    try:
        for name in names:
            kube.create(HybridClusterResource.from_dict({
                "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
                "metadata": {"name": name},
                "spec": {"provider": "local", "version": "v1.37.2",
                         "nodeGroups": [{"name": "workers", "size": 1}]}}),
                namespace=namespace)
            def started(name: str = name) -> int | None:
                return supervisor_of(local_home(root, name))

            starting = eventually(started, timeout=60, interval=0.05, message=operator.tail)
            operator.kill()
            # Still starting after the kill, so it was starting at the kill: work in flight.
            home = local_home(root, name)
            assert home and not (home / "cp" / "state.json").exists(), "the start was over"
            supervisors[name] = starting
            operator.start()

        def all_active() -> bool:
            return phases(kube, namespace, names) == ["Active"] * len(names)

        eventually(all_active, timeout=240, message=lambda: (
            f"not all Active: {phases(kube, namespace, names)}\n{operator.tail()}"))
        for name in names:  # the supervisor started before the kill is the one that serves
            home = local_home(root, name)
            assert home is not None
            state: dict[str, Any] = json.loads((home / "cp" / "state.json").read_text())
            assert supervisor_of(home) == supervisors[name] == state["supervisor_pid"]
        assert operator.starts == len(names) + 1

        # A `local` delete is in flight while the operator's `controlplane down` runs: kill
        # the operator then, once per cluster. The orphaned `down` goes on (as a cloud would
        # go on with a delete nobody waits for); the restarted operator must finish the job.
        planes: dict[str, list[int]] = {}
        for name in names:
            home = local_home(root, name)
            assert home is not None
            state = json.loads((home / "cp" / "state.json").read_text())
            planes[name] = [*state["pids"], state["supervisor_pid"]]
        for name in names:
            home = local_home(root, name)
            assert home is not None
            kube.delete(HybridClusterResource, name, namespace=namespace)
            eventually(lambda home=home: stopping(home), timeout=60, interval=0.02,
                       message=operator.tail)
            operator.kill()
            assert home.exists(), "the delete was over before the kill"
            operator.start()
        eventually(lambda: all(get_cluster(kube, namespace, n) is None for n in names),
                   timeout=120, message=operator.tail)
        assert operator.starts == 2 * len(names) + 1
        assert not any(root.iterdir()), "a control plane leaked"
        for name, pids in planes.items():
            eventually(lambda pids=pids: not any(alive(pid) for pid in pids), timeout=30,
                       message=f"processes of {name}'s control plane outlived its delete")
    finally:
        operator.close()  # also stops the `local` planes the operator started
