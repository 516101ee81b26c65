"""Commit to fleet (issue 19): seconds from ``git push`` to the new revision running on every
placed ``local`` member, for 100 applications tracking one repository.

The real operator, the real API (``POST /v1/hooks/git`` with a GitHub-signed push) and two
``local`` members (real control planes). Each application has its own folder of the repository
(one ConfigMap carrying the commit's marker) and is placed on both members; a commit changes
every folder, and the clock stops when all ConfigMaps on all members carry the new marker.

* webhook: the operator polls every 600 s, so only the webhook can bring the commit in time;
* polling only: the operator restarted with ``git_interval`` = ``resync`` = 10 s, no webhook:
  a pass every 10 s re-resolves from the repository's shared ``ls-remote`` answer, itself up to
  10 s old, so the figure is bounded by 20 s plus the webhook figure (README, "Application
  delivery");
* baseline: the same ConfigMaps server-side applied in-process, in parallel over warm
  connections, to the same members (the floor any delivery engine pays).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace, Secret

from hybridcloud.controlplane import ControlPlane, Profile
from hybridcloud.kube.bootstrap import install_crds
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .commit_timeline import Timeline
from .env import ROOT, stop
from .profile import profiled
from .report import Result

MEMBERS = ("east", "west")
NAMESPACE = "commit-fleet"
TARGET = "fleet-apps"
HOOK_SECRET = "bench-hook-secret"  # noqa: S105  (a value made up for this run)
POLL_INTERVAL = 10.0


def _git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _write(work: Path, apps: int, marker: str) -> None:
    for i in range(apps):
        folder = work / "apps" / f"app-{i}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cm.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\n"
            f"data: {{marker: '{marker}'}}\n")


def _commit(work: Path, apps: int, marker: str) -> None:
    _write(work, apps, marker)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", marker)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:  # not listening yet
        return False


def _status(obj: Any) -> dict[str, Any]:
    return obj.status if isinstance(obj.status, dict) else {}


def _wait(probe: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def _arrived(members: list[Client], apps: int, marker: str) -> int:
    return sum(1 for member in members for cm in member.list(ConfigMap, namespace=TARGET)
               if (cm.data or {}).get("marker") == marker and cm.metadata
               and (cm.metadata.name or "").startswith("cm-")) if apps else 0


def _push_and_wait(work: Path, bare: Path, members: list[Client], apps: int,
                   hook: str | None, timeout: float,
                   timeline: Timeline) -> tuple[float, dict[str, Any]]:
    """Seconds from the start of ``git push`` until every member runs the new marker, and
    where they went (:class:`Timeline`)."""
    marker = uuid.uuid4().hex[:12]
    _commit(work, apps, marker)
    tokens, cpu = timeline.tokens(), timeline.cpu()
    answered = None
    started = time.monotonic()
    _git(work, "push", "-q", str(bare), "main")
    if hook is not None:
        body = json.dumps({"ref": "refs/heads/main", "after": marker,
                           "repository": {"clone_url": f"file://{bare}",
                                          "default_branch": "main"}}).encode()
        signature = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = httpx.post(f"{hook}/v1/hooks/git", content=body, timeout=30, headers={
            "X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={signature}",
            "Content-Type": "application/json"})
        answer.raise_for_status()
        answered = time.monotonic()
    expected = apps * len(members)
    # Arrivals are seen through the timeline's watches, stamped as they happen: LISTing every
    # member five times a second loaded the machine under test. One LIST per member confirms.
    _wait(lambda: timeline.arrivals(started, marker)[0] >= expected
          and _arrived(members, apps, marker) == expected, timeout,
          f"commit {marker} never reached every member")
    seconds = timeline.arrivals(started, marker)[1]
    time.sleep(0.5)  # the operator's last status writes, for the timeline
    return seconds, timeline.summary(started, answered, marker, tokens, cpu)


async def _direct_apply(kubeconfigs: list[Path], apps: int, rounds: int = 3) -> float:
    """The floor: the same ConfigMaps server-side applied in parallel over warm clients."""
    clients = [AsyncClient(config=KubeConfig.from_file(k), field_manager="bench-floor")
               for k in kubeconfigs]
    try:
        for client in clients:
            await client.apply(Namespace(metadata=ObjectMeta(name="floor")))
        timings = []
        for _ in range(rounds + 1):  # the first round warms the connections
            marker = uuid.uuid4().hex[:12]
            started = time.monotonic()
            await asyncio.gather(*(client.apply(ConfigMap(
                metadata=ObjectMeta(name=f"cm-{i}", namespace="floor"),
                data={"marker": marker})) for client in clients for i in range(apps)))
            timings.append(time.monotonic() - started)
        return statistics.median(timings[1:])
    finally:
        for client in clients:
            await client.close()


def run(workdir: Path, scale: float) -> list[Result]:
    """Blocking on purpose: run it in a thread (it drives processes and polls)."""
    apps = max(10, int(100 * scale))
    pushes = max(3, int(5 * scale))
    workdir.mkdir(parents=True, exist_ok=True)
    work, bare = workdir / "src", workdir / "fleet.git"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    _commit(work, apps, "initial")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    secrets = workdir / "hook-secrets"
    secrets.mkdir()
    (secrets / "github").write_text(HOOK_SECRET)

    with ControlPlane(workdir / "mgmt", Profile.MANAGEMENT, name="commitfleet") as plane:
        install_crds(plane.kubeconfig)
        kube = Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="bench")
        kube.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))
        # Where operator and API keep the platform's own member credentials (as the chart does).
        kube.create(Namespace(metadata=ObjectMeta(name="hybridcloud-system")))
        port = _free_port()
        hook = f"http://127.0.0.1:{port}"
        base_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        api_log = (workdir / "api.log").open("ab")
        api = subprocess.Popen(
            [sys.executable, "-m", "hybridcloud", "api", "--host", "127.0.0.1", "--port",
             str(port), "--log-level", "warning"], stdout=api_log, stderr=subprocess.STDOUT,
            cwd=ROOT, env={**base_env, "HYBRIDCLOUD_API_KUBECONFIG": str(plane.kubeconfig),
                           "HYBRIDCLOUD_API_GIT_HOOK_SECRETS_DIR": str(secrets)})

        def operator(git_interval: float, resync: float = 300.0) -> subprocess.Popen[bytes]:
            log = (workdir / "operator.log").open("ab")
            return subprocess.Popen(
                [sys.executable, "-m", "hybridcloud", "operator", "--namespace", NAMESPACE,
                 "--health-port", "0"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**base_env, "KUBECONFIG": str(plane.kubeconfig),
                     "HYBRIDCLOUD_OPERATOR_LOCAL_DIR": str(workdir / "local"),
                     "HYBRIDCLOUD_OPERATOR_DELIVERY_DIR": str(workdir / "delivery"),
                     "HYBRIDCLOUD_OPERATOR_ALLOW_LOCAL_SOURCES": "true",
                     "HYBRIDCLOUD_OPERATOR_POLL_INTERVAL": "0.3",
                     "HYBRIDCLOUD_OPERATOR_DELIVERY_POLL_INTERVAL": "1",
                     "HYBRIDCLOUD_OPERATOR_GIT_INTERVAL": str(git_interval),
                     # A converged application's next pass comes at the resync interval; the
                     # revision is re-resolved then if git_interval has passed.
                     "HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL": str(resync)})

        process = operator(600.0)
        try:
            _wait(lambda: _ready(f"{hook}/readyz") or api.poll() is not None, 120,
                  "the API never became ready")
            for member in MEMBERS:
                kube.create(HybridClusterResource.from_dict({
                    "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
                    "metadata": {"name": member},
                    "spec": {"provider": "local", "region": f"local-{member}",
                             "version": "v1.37.2", "nodeGroups": [{"name": "w", "size": 1}]}}),
                    namespace=NAMESPACE)
            _wait(lambda: all(_status(kube.get(HybridClusterResource, m, namespace=NAMESPACE))
                              .get("phase") == "Active" for m in MEMBERS), 300,
                  "members never became Active")
            kubeconfigs = []
            for member in MEMBERS:
                secret = kube.get(Secret, f"{member}-kubeconfig", namespace=NAMESPACE)
                path = workdir / f"{member}.kubeconfig"
                path.write_bytes(base64.b64decode((secret.data or {})["value"]))
                kubeconfigs.append(path)
            members = [Client(config=KubeConfig.from_file(k), field_manager="bench-observer")
                       for k in kubeconfigs]
            timeline = Timeline()
            timeline.watch_applications(kube, NAMESPACE)
            for name, kubeconfig in zip(MEMBERS, kubeconfigs, strict=True):
                timeline.watch_member(name, Client(config=KubeConfig.from_file(kubeconfig)),
                                      TARGET)
            for i in range(apps):
                kube.create(MultiClusterApplicationResource.from_dict({
                    "apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
                    "metadata": {"name": f"app-{i}"},
                    "spec": {"source": {"repository": f"file://{bare}", "revision": "main",
                                        "path": f"apps/app-{i}"},
                             "targetNamespace": TARGET,
                             "placement": [{"cluster": m} for m in MEMBERS]}}),
                    namespace=NAMESPACE)
            _wait(lambda: _arrived(members, apps, "initial") == apps * len(MEMBERS), 600,
                  "the applications never reached every member")
            time.sleep(2)  # let the first passes' resyncs settle
            timeline.processes = {"operator": process.pid, "api": api.pid}
            with profiled(process.pid, "operator-commit-to-fleet-webhook"), \
                    profiled(api.pid, "api-commit-to-fleet-webhook"):
                webhook = [_push_and_wait(work, bare, members, apps, hook, 60 + 3 * apps,
                                          timeline) for _ in range(pushes)]
            stop(process)
            process = operator(POLL_INTERVAL, resync=POLL_INTERVAL)
            time.sleep(POLL_INTERVAL)  # the restart's own passes are not part of the figure
            timeline.processes = {"operator": process.pid}
            polling: list[tuple[float, dict[str, Any]]] = []
            with profiled(process.pid, "operator-commit-to-fleet-polling"), \
                    contextlib.suppress(TimeoutError):  # reported as missing below
                for _ in range(2):
                    polling.append(_push_and_wait(work, bare, members, apps, None,
                                                  2 * POLL_INTERVAL + 60 + 3 * apps, timeline))
            floor = asyncio.run(_direct_apply(kubeconfigs, apps))
        finally:
            stop(process)
            stop(api)
            for home in (workdir / "local").glob("*/cp"):
                subprocess.run([sys.executable, "-m", "hybridcloud.controlplane", "down",
                                "--dir", str(home)], capture_output=True, check=False)
    params = {"applications": apps, "members": len(MEMBERS), "objects": apps * len(MEMBERS),
              "baseline": "in-process parallel server-side apply of the same objects"}
    return [
        Result("commit_to_fleet_webhook_p50_s", statistics.median(t for t, _ in webhook), "s",
               floor, {**params, "pushes": pushes, "each_s": [round(t, 2) for t, _ in webhook],
                       "timeline": {f"push_{i}": steps for i, (_, steps) in enumerate(webhook)}},
               target="p50 <= 2 s"),
        Result("commit_to_fleet_polling_s", max(t for t, _ in polling) if polling else None,
               "s", floor, {**params, "git_interval_s": POLL_INTERVAL,
                            "each_s": [round(t, 2) for t, _ in polling],
                            "timeline": {f"push_{i}": s for i, (_, s) in enumerate(polling)}},
               target=f"<= resync x ceil(git_interval / resync) + git_interval "
                      f"({2 * POLL_INTERVAL:.0f} s) + the webhook figure"),
    ]
