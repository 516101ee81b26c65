"""Case 8: fan-out delivery of 20 manifests to 3 local member clusters.

The baseline is the in-process parallel server-side-apply floor (:mod:`bench.ssa_floor`):
the same objects, warm connections, all clusters at once. Sequential ``kubectl apply`` (cold
starts included) is kept as a second, reference figure.

Each figure is the median of :data:`RUNS` deliveries, each of its own copy of the objects in a
new namespace (one sample swung the ratio between 1.2x and 1.6x from run to run).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from hybridcloud.controlplane import ControlPlane, Profile, find_binary, resolve_bin_dir
from hybridcloud.kube.bootstrap import install_crds
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .env import ROOT, stop
from .profile import profiled
from .report import Result
from .ssa_floor import apply_everywhere, load_objects

MEMBERS = ("east", "west", "north")
NAMESPACE = "fanout"
LOCAL_MEMBERS_ALLOWED = json.dumps({"clusters": {"allowDefaultCredentials": True}})
# Where the operator keeps its own copy of each member's credential: a platform namespace no
# tenant writes to, which must exist (members stall PlatformMisconfigured otherwise).
PLATFORM_NAMESPACE = "hybridcloud-system"
RUNS = 5


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def manifests(directory: Path, namespace: str = "bench-app") -> None:
    """20 objects: 10 ConfigMaps, 5 Deployments, 5 Services in ``namespace``."""
    directory.mkdir(parents=True)
    (directory / "namespace.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-app\n")
    for i in range(10):
        (directory / f"config-{i}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i}\n"
            f"  namespace: bench-app\ndata:\n  key: value-{i}\n")
    for i in range(4):
        (directory / f"app-{i}.yaml").write_text(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}, namespace: bench-app}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}}}}}
    spec:
      containers: [{{name: app, image: "example.com/app:{i}"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: bench-app}}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80}}]
""")
    (directory / "app-4.yaml").write_text("""apiVersion: v1
kind: Service
metadata: {name: app-4, namespace: bench-app}
spec:
  selector: {app: app-4}
  ports: [{port: 80}]
""")
    for written in directory.iterdir():
        written.write_text(written.read_text().replace("bench-app", namespace))


def _status(obj: Any) -> dict[str, Any]:
    return obj.status if isinstance(obj.status, dict) else {}


def _all_synced(body: Any) -> bool:
    deployments = _status(body).get("deployments") or []
    return len(deployments) == len(MEMBERS) and all(
        d.get("status") == "Synced" for d in deployments)


def _wait_synced(kube: Client, name: str, since: str | None, limit: float) -> None:
    """Follow the application with a watch from its creation's resourceVersion until every
    member reports it Synced: the moment the status lands, not the next poll after it (polling
    every 50 ms added 25 ms on average to our figure and nothing to the floor's)."""
    deadline = time.time() + limit
    for _, obj in kube.watch(MultiClusterApplicationResource, namespace=NAMESPACE,
                             fields={"metadata.name": name}, resource_version=since,
                             server_timeout=int(limit)):
        if _all_synced(obj):
            return
        if time.time() > deadline:
            break
    raise TimeoutError("fan-out application never synced")


def run(workdir: Path, scale: float) -> list[Result]:
    """Blocking on purpose: run it in a thread (it drives processes and polls)."""
    workdir.mkdir(parents=True, exist_ok=True)
    repo_dir, bare = workdir / "src", workdir / "app.git"
    for run_ in range(RUNS):
        manifests(repo_dir / f"manifests-{run_}", f"bench-app-{run_}")
    _git(repo_dir, "init", "-q", "-b", "main")
    _git(repo_dir, "add", ".")
    _git(repo_dir, "commit", "-q", "-m", "bench app")
    subprocess.run(["git", "clone", "-q", "--bare", str(repo_dir), str(bare)], check=True)
    kubectl = find_binary("kubectl", resolve_bin_dir(None))

    with ControlPlane(workdir / "mgmt", Profile.MANAGEMENT, name="fanout") as plane:
        install_crds(plane.kubeconfig)
        kube = Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="bench")
        for namespace in (NAMESPACE, PLATFORM_NAMESPACE):
            kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig), "PYTHONPATH": str(ROOT),
               "HYBRIDCLOUD_OPERATOR_LOCAL_DIR": str(workdir / "local"),
               "HYBRIDCLOUD_OPERATOR_DELIVERY_DIR": str(workdir / "delivery"),
               "HYBRIDCLOUD_OPERATOR_ALLOW_LOCAL_SOURCES": "true",
               "HYBRIDCLOUD_OPERATOR_CREDENTIALS_NAMESPACE": NAMESPACE,
               "HYBRIDCLOUD_OPERATOR_MEMBER_CREDENTIALS_NAMESPACE": PLATFORM_NAMESPACE,
               # Production tenant defaults refuse clusters on the platform's own credentials.
               "HYBRIDCLOUD_OPERATOR_TENANT_DEFAULTS": LOCAL_MEMBERS_ALLOWED,
               "HYBRIDCLOUD_OPERATOR_POLL_INTERVAL": "0.3",
               "HYBRIDCLOUD_OPERATOR_DELIVERY_POLL_INTERVAL": "0.3"}
        log = (workdir / "operator.log").open("ab")
        operator = subprocess.Popen(
            [sys.executable, "-m", "hybridcloud", "operator", "--namespace", NAMESPACE,
             "--health-port", "0"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            for member in MEMBERS:
                kube.create(HybridClusterResource.from_dict({
                    "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
                    "metadata": {"name": member},
                    "spec": {"provider": "local", "region": f"local-{member}",
                             "version": "v1.37.2", "nodeGroups": [{"name": "w", "size": 1}]}}),
                    namespace=NAMESPACE)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                phases = [_status(kube.get(HybridClusterResource, m, namespace=NAMESPACE))
                          .get("phase") for m in MEMBERS]
                if all(p == "Active" for p in phases):
                    break
                time.sleep(0.5)
            kubeconfigs = []
            for member in MEMBERS:
                secret = kube.get(Secret, f"{member}-kubeconfig", namespace=NAMESPACE)
                path = workdir / f"{member}.kubeconfig"
                path.write_bytes(base64.b64decode((secret.data or {})["value"]))
                kubeconfigs.append(path)

            samples = []
            with profiled(operator.pid, "operator-fanout"):
                for run_ in range(RUNS):  # one application at a time, each a first delivery
                    name = f"fanout-{run_}"
                    start = time.time()
                    created = kube.create(MultiClusterApplicationResource.from_dict({
                        "apiVersion": "platform.example.com/v1",
                        "kind": "MultiClusterApplication", "metadata": {"name": name},
                        "spec": {"source": {"repository": f"file://{bare}",
                                            "path": f"manifests-{run_}", "revision": "main"},
                                 "placement": [{"cluster": m} for m in MEMBERS]}}),
                        namespace=NAMESPACE)
                    _wait_synced(kube, name, created.metadata and
                                 created.metadata.resourceVersion, limit=300)
                    samples.append(time.time() - start)
            ours = statistics.median(samples)
        finally:
            stop(operator)
            for home in (workdir / "local").glob("*/cp"):
                subprocess.run([sys.executable, "-m", "hybridcloud.controlplane", "down",
                                "--dir", str(home)], capture_output=True, check=False)

        # Baseline: the same files applied with kubectl to fresh member clusters in sequence.
        planes = [ControlPlane(workdir / f"base-{m}", Profile.MEMBER, name=f"b{m}")
                  for m in MEMBERS]
        for plane_ in planes:
            plane_.start()
        try:
            # The floor first, each run into its own namespace (so its applies create, like
            # ours did).
            floors = [asyncio.run(apply_everywhere(
                [p.kubeconfig for p in planes],
                json.loads(json.dumps(load_objects(repo_dir / f"manifests-{run_}")).replace(
                    f'"bench-app-{run_}"', f'"bench-floor-{run_}"'))))
                for run_ in range(RUNS)]
            floor = statistics.median(floors)
            start = time.time()
            for plane_ in planes:
                # Namespace first, as any kubectl user must (files apply in name order).
                for target in ("namespace.yaml", ""):
                    subprocess.run([str(kubectl), "--kubeconfig", str(plane_.kubeconfig),
                                    "apply", "--server-side", "-f",
                                    str(repo_dir / "manifests-0" / target)],
                                   check=True, capture_output=True)
            theirs = time.time() - start
        finally:
            for plane_ in planes:
                plane_.stop()
    return [Result("fanout_seconds", ours, "s", floor,
                   {"manifests": 20, "clusters": len(MEMBERS), "runs": RUNS,
                    "each_s": [round(x, 3) for x in samples],
                    "floor_each_s": [round(x, 3) for x in floors],
                    "baseline": "in-process parallel server-side apply of the same objects "
                                "over warm connections (the floor), median of the runs"},
                   target="<= 1.3x baseline"),
            Result("fanout_seconds_vs_kubectl", ours, "s", theirs,
                   {"manifests": 20, "clusters": len(MEMBERS), "runs": 1,
                    "baseline": "kubectl apply --server-side to each cluster in sequence "
                                "(reference)"},
                   target="<= 1.0x baseline")]
