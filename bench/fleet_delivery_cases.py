"""Delivery at scale: many MultiClusterApplications (5 objects each) over 3 `local` members.

Figures: seconds until every application is Synced and Healthy on every member, and until
every one is Synced (applied everywhere, health aside), each against its floor measured on the
same members in the same run: the in-process parallel server-side apply of the same objects,
for Healthy until each member's deployment controller observed every Deployment (no engine can
report a Deployment healthy before that: the members' controllers, not the applies, set that
pace). Then the operator's RSS, and the load the platform puts on members at rest —
requests per second by verb from each member's own ``apiserver_request_total``, over a window
in which a resync of every application ran (the operator's sync counter shows it).

Git is kept out of the figure on purpose (one repository, revision resolved once per hour):
the git-side cases belong to the git fetch benchmarks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from hybridcloud.controlplane import ControlPlane, Profile
from hybridcloud.controlplane._net import free_ports
from hybridcloud.kube.bootstrap import install_crds
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .delivery_cases import LOCAL_MEMBERS_ALLOWED, PLATFORM_NAMESPACE, _git, _status
from .env import ROOT, metric_total, rss_bytes, stop
from .profile import profiled
from .report import Result
from .ssa_floor import apply_and_observe

MEMBERS = ("east", "west", "north")
NAMESPACE = "fleet"
OBJECTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings-a}
data: {mode: blue}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings-b}
data: {mode: green}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings-c}
data: {mode: red}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None  # headless: a member's service range (/24) holds fewer than 1,000 IPs
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "example.com/web:1"}]
"""
# What the platform's own deliveries touch on a member: requests to these resources at rest
# are ours (nothing else on a quiet member reads them per object).
DELIVERED = ("configmaps", "services", "deployments", "namespaces")
WRITE_VERBS = ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION")
READ_VERBS = ("GET", "LIST")


def _member_http(kubeconfig: dict[str, Any], folder: Path) -> httpx.Client:
    """httpx with the member's admin credential (for its /metrics)."""
    folder.mkdir(parents=True, exist_ok=True)
    cluster, user = kubeconfig["clusters"][0]["cluster"], kubeconfig["users"][0]["user"]
    paths = {}
    for name, data in (("ca", cluster["certificate-authority-data"]),
                       ("crt", user["client-certificate-data"]),
                       ("key", user["client-key-data"])):
        paths[name] = folder / f"member.{name}"
        paths[name].write_bytes(base64.b64decode(data))
    context = ssl.create_default_context(cafile=str(paths["ca"]))
    context.load_cert_chain(str(paths["crt"]), str(paths["key"]))
    return httpx.Client(base_url=cluster["server"], verify=context, timeout=30)


def _member_requests(members: list[httpx.Client]) -> dict[str, float]:
    counts: dict[str, float] = {}
    for http in members:
        text = http.get("/metrics").raise_for_status().text
        for verb in (*READ_VERBS, *WRITE_VERBS):
            counts[verb] = counts.get(verb, 0.0) + sum(
                metric_total(text, "apiserver_request_total", verb=verb, resource=resource)
                for resource in DELIVERED)
    return counts


def _ready(obj: dict[str, Any]) -> bool:
    deployments = (obj.get("status") or {}).get("deployments") or []
    return len(deployments) == len(MEMBERS) and all(
        d.get("status") == "Synced" and d.get("health") == "Healthy" for d in deployments)


def _synced(obj: dict[str, Any]) -> bool:
    deployments = (obj.get("status") or {}).get("deployments") or []
    return len(deployments) == len(MEMBERS) and all(
        d.get("status") == "Synced" for d in deployments)


async def _wait_all_ready(kubeconfig: Path, names: set[str], limit: float
                          ) -> tuple[float, float]:
    """Watch the applications until all are Synced and Healthy everywhere; returns when all
    were first Synced (applied everywhere, health aside), and when all were ready."""
    kube = AsyncClient(config=KubeConfig.from_file(kubeconfig))
    ready: set[str] = set()
    synced: set[str] = set()
    all_synced: float | None = None
    deadline = time.monotonic() + limit
    try:
        while ready < names:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(names - ready)} applications not Synced and Healthy "
                                   f"after {limit:.0f}s")
            try:
                async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                    async for _, obj in kube.watch(MultiClusterApplicationResource,
                                                   namespace=NAMESPACE):
                        body = dict(obj.to_dict())  # type: ignore[no-untyped-call]
                        name = body["metadata"]["name"]
                        if _synced(body):
                            synced.add(name)
                            if all_synced is None and synced >= names:
                                all_synced = time.time()
                        if _ready(body):
                            ready.add(name)
                        else:
                            ready.discard(name)
                        if ready >= names:
                            break
            except TimeoutError:
                continue
        done = time.time()
        return (all_synced or done), done
    finally:
        await kube.close()


def _floor_objects(count: int) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for i in range(count):
        namespace = f"floor-{i}"
        objects.append({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": namespace}})
        for doc in yaml.safe_load_all(OBJECTS):
            doc = json.loads(json.dumps(doc))
            doc["metadata"]["namespace"] = namespace
            objects.append(doc)
    return objects


def run(workdir: Path, scale: float) -> list[Result]:
    """Blocking on purpose: run it in a thread (it drives processes and polls)."""
    apps = max(20, int(1000 * scale))
    window = max(20.0, 60.0 * scale)
    resync = window / 2
    workdir.mkdir(parents=True, exist_ok=True)
    repo_dir, bare = workdir / "src", workdir / "app.git"
    (repo_dir / "manifests").mkdir(parents=True)
    (repo_dir / "manifests" / "app.yaml").write_text(OBJECTS)
    _git(repo_dir, "init", "-q", "-b", "main")
    _git(repo_dir, "add", ".")
    _git(repo_dir, "commit", "-q", "-m", "fleet app")
    subprocess.run(["git", "clone", "-q", "--bare", str(repo_dir), str(bare)], check=True)
    metrics_port = free_ports(1)[0]

    with ControlPlane(workdir / "mgmt", Profile.MANAGEMENT, name="fleetdel") as plane:
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
               "HYBRIDCLOUD_OPERATOR_DELIVERY_POLL_INTERVAL": "1",
               "HYBRIDCLOUD_OPERATOR_GIT_INTERVAL": "3600",
               "HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL": str(resync),
               "HYBRIDCLOUD_OPERATOR_METRICS_PORT": str(metrics_port)}
        log = (workdir / "operator.log").open("ab")
        operator = subprocess.Popen(
            [sys.executable, "-m", "hybridcloud", "operator", "--namespace", NAMESPACE,
             "--health-port", "0"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        members: list[httpx.Client] = []
        try:
            for member in MEMBERS:
                kube.create(HybridClusterResource.from_dict({
                    "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
                    "metadata": {"name": member},
                    "spec": {"provider": "local", "region": f"local-{member}",
                             "version": "v1.37.2", "nodeGroups": [{"name": "w", "size": 1}]}}),
                    namespace=NAMESPACE)
            deadline = time.monotonic() + 900
            while True:
                phases = [_status(kube.get(HybridClusterResource, m, namespace=NAMESPACE))
                          .get("phase") for m in MEMBERS]
                if all(p == "Active" for p in phases):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"members not Active after 900 s: {phases}")
                time.sleep(0.5)
            kubeconfigs = []
            for member in MEMBERS:
                secret = kube.get(Secret, f"{member}-kubeconfig", namespace=NAMESPACE)
                text = base64.b64decode((secret.data or {})["value"])
                path = workdir / f"{member}.kubeconfig"
                path.write_bytes(text)
                kubeconfigs.append(path)
                members.append(_member_http(yaml.safe_load(text), workdir / member))

            # Returns once the members' controllers are done with the floor's objects: ours
            # start on members as quiet as the floor's did.
            floor_applied, floor = asyncio.run(apply_and_observe(kubeconfigs,
                                                                 _floor_objects(apps)))

            names = {f"app-{i}" for i in range(apps)}
            syncs_at_start = _syncs(metrics_port)
            with profiled(operator.pid, "operator-fleet-delivery"):
                start = time.time()
                for name in sorted(names):
                    kube.create(MultiClusterApplicationResource.from_dict({
                        "apiVersion": "platform.example.com/v1",
                        "kind": "MultiClusterApplication", "metadata": {"name": name},
                        "spec": {"source": {"repository": f"file://{bare}",
                                            "path": "manifests", "revision": "main"},
                                 "targetNamespace": name,
                                 "placement": [{"cluster": m} for m in MEMBERS]}}),
                        namespace=NAMESPACE)
                synced_at, done = asyncio.run(_wait_all_ready(plane.kubeconfig, names,
                                                              limit=3600))
            ours, ours_synced = done - start, synced_at - start
            rss = rss_bytes(operator.pid)
            # Member syncs it took (one per application, member and pass): how many passes the
            # rollout cost beyond the one that applies (health arriving, events) shows here.
            rollout_syncs = _syncs(metrics_port) - syncs_at_start

            time.sleep(resync)  # the passes the creation scheduled have run out
            syncs_before = _syncs(metrics_port)
            before, began = _member_requests(members), time.time()
            time.sleep(window)
            after, elapsed = _member_requests(members), time.time() - began
            syncs = _syncs(metrics_port) - syncs_before
            rss_rest = rss_bytes(operator.pid)
        finally:
            stop(operator)
            for http in members:
                http.close()
            for home in (workdir / "local").glob("*/cp"):
                subprocess.run([sys.executable, "-m", "hybridcloud.controlplane", "down",
                                "--dir", str(home)], capture_output=True, check=False)

    params = {"applications": apps, "objects_per_app": 5, "members": len(MEMBERS)}
    rest = {verb: round((after[verb] - before[verb]) / elapsed, 3) for verb in after}
    writes = sum(rest[v] for v in WRITE_VERBS)
    reads = sum(rest[v] for v in READ_VERBS)
    # What the window measured is nested: scalar parameters identify the case across runs.
    rest_params = {**params, "resync_interval_s": resync,
                   "measured": {"window_s": round(elapsed, 1), "member_syncs_in_window": syncs,
                                "by_verb_per_s": rest}}
    note = None if syncs >= apps * len(MEMBERS) else (
        f"only {syncs:.0f} member syncs in the window: not every application resynced")
    return [
        Result("delivery_fleet_seconds", ours, "s", floor,
               {**params, "baseline": "in-process parallel server-side apply of the same "
                                      "objects over warm connections, until each member's "
                                      "deployment controller observed every Deployment (the "
                                      "floor of Synced and Healthy)",
                "measured": {"member_syncs_per_app_and_member": round(
                    rollout_syncs / (apps * len(MEMBERS)), 2)}},
               target="<= 1.3x baseline"),
        Result("delivery_fleet_synced_seconds", ours_synced, "s", floor_applied,
               {**params, "baseline": "the same applies only (the floor of Synced)"},
               target="<= 1.3x baseline"),
        Result("delivery_fleet_rss", rss / 2**20, "MiB", None, params),
        Result("delivery_fleet_rss_at_rest", rss_rest / 2**20, "MiB", None, params),
        Result("delivery_rest_member_writes_per_s", writes, "req/s", None, rest_params,
               target="0", note=note),
        Result("delivery_rest_member_reads_per_s", reads, "req/s", None, rest_params,
               target="0 (no per-application polling)", note=note),
    ]


def _syncs(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return metric_total(text, "hybridcloud_delivery_syncs_total")
