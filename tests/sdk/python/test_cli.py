"""The real ``hybridcloud`` executable against the live API + operator: a `local` cluster created
with --wait (a real member control plane), an application delivered from git, a workload scaled,
the fleet status read; login contexts and the documented exit codes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from hybridcloud.api.oauth import CLIENT_LABEL, hash_client_secret
from hybridcloud.controlplane import ControlPlane
from hybridcloud_sdk import HybridCloudClient
from hybridcloud_sdk.cli.exits import Exit
from tests.integration.api_support import ensure_namespace, identity
from tests.integration.harness import OperatorProcess, delivery_operator, eventually
from tests.integration.test_application_delivery import Repo, sample_files

from .conftest import OAUTH_NAMESPACE
from tests.integration.test_events_stream import transition

from .events_support import ClusterMaker, first_created

pytestmark = pytest.mark.integration

EXECUTABLE = Path(sys.executable).parent / "hybridcloud"
VERSION = "v1.37.2"


class CLI:
    def __init__(self, config: Path) -> None:
        self.env = {**os.environ, "HYBRIDCLOUD_CONFIG": str(config), "COLUMNS": "200"}

    def __call__(self, *args: str, expect: int = 0,
                 timeout: float = 600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(EXECUTABLE), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        assert done.returncode == expect, (args, done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture
def cli(tmp_path: Path, api: str, token: str) -> CLI:
    run = CLI(tmp_path / "config.yaml")
    run("login", "--server", api, "--token", token)
    return run


def test_login_with_client_credentials_stores_a_0600_context(
        api: str, kube: Client, namespace: str, tmp_path: Path) -> None:
    identity(kube, namespace, "cli-bot")
    ensure_namespace(kube, OAUTH_NAMESPACE)
    client_id, secret = f"cli-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    kube.create(Secret(
        metadata=ObjectMeta(name=f"oauth-{client_id}", namespace=OAUTH_NAMESPACE,
                            labels={CLIENT_LABEL: "true"}),
        stringData={"client_id": client_id, "client_secret_hash": hash_client_secret(secret),
                    "service_account": f"{namespace}/cli-bot"}))
    config = tmp_path / "config.yaml"
    cli = CLI(config)
    wrong = cli("login", "--server", api, "--client-id", client_id, "--client-secret", "nope",
                "--name", "ci", expect=Exit.AUTH)
    assert "nope" not in wrong.stderr and not config.exists()
    cli.env["HYBRIDCLOUD_CLIENT_SECRET"] = secret
    eventually(lambda: _token_ok(api, client_id, secret), timeout=20)  # registration cached
    cli("login", "--server", api, "--client-id", client_id, "--name", "ci")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    stored = yaml.safe_load(config.read_text())
    assert stored["current-context"] == "ci"
    assert cli.json("clusters", "list") == []
    contexts = cli("config", "get-contexts").stdout
    assert "client-credentials" in contexts and secret not in contexts


def _token_ok(api: str, client_id: str, secret: str) -> bool:
    import httpx
    return httpx.post(f"{api}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": secret}).status_code == 200


def test_errors_have_documented_exit_codes_and_no_traceback(cli: CLI, tmp_path: Path) -> None:
    missing = cli("clusters", "get", "ghost", expect=Exit.NOT_FOUND)
    assert "CLUSTER_NOT_FOUND" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad_Name\nprovider: local\nversion: v1\n")
    cli("clusters", "create", "-f", str(bad), expect=Exit.USAGE)
    # No Alertmanager and no log store behind the test API: 503, exit 7, one line, no retry
    # storm (HYBRIDCLOUD_MAX_RETRIES=0).
    cli.env["HYBRIDCLOUD_MAX_RETRIES"] = "0"
    for command in (["alerts", "--state", "firing"], ["logs", "level:error", "--since", "1h"]):
        unavailable = cli(*command, expect=Exit.UNAVAILABLE)
        assert "503 SERVICE_UNAVAILABLE" in unavailable.stderr
        assert "Traceback" not in unavailable.stderr
    for command in (["logs", "level:(error"], ["logs", "error", "--since", "1y"],
                    ["events", "--type", "cluster.exploded"], ["alerts", "--state", "sleepy"]):
        refused = cli(*command, expect=Exit.USAGE)
        assert "Traceback" not in refused.stderr, command
    CLI(tmp_path / "none.yaml")("clusters", "list", expect=Exit.AUTH)
    cli("--context", "nope", "status", expect=Exit.AUTH)


def test_events_replay_the_history_or_what_followed_an_id_and_follow_ends_on_ctrl_c(
        cli: CLI, api: str, token: str, kube: Client, namespace: str) -> None:
    with HybridCloudClient(base_url=api, api_key=token) as sdk:
        stream = sdk.events.subscribe(events=["cluster.created"], idle_timeout=60)
        with ClusterMaker(sdk, "cli", kube, namespace) as maker:
            first = first_created(stream, "cli")
        sdk.clusters.create(name="cli-after", provider="local", version=VERSION,
                            configuration={"node_pools": [{"name": "w", "size": 1}]})
        transition(kube, namespace, "cli-after", "cluster.created", "Pending")
    # Without --follow: what followed the id (history, then live until 3 quiet seconds), exit 0.
    replay = cli("events", "--last-event-id", first.id, "--type", "cluster.created",
                 "--idle", "3", "-o", "json", timeout=120).stdout.splitlines()
    replayed = [json.loads(line)["data"]["cluster_id"] for line in replay]
    assert "cli-after" in replayed and first.data["cluster_id"] not in replayed
    assert set(replayed) <= {*maker.made, "cli-after"}
    # Without an id: the server's bounded history, oldest first, the first event included.
    history = cli("events", "--type", "cluster.created", "--idle", "3", "-o", "json",
                  timeout=120).stdout.splitlines()
    replayed_all = [json.loads(line)["data"]["cluster_id"] for line in history]
    assert {*maker.made, "cli-after"} <= set(replayed_all)
    assert replayed_all.index(first.data["cluster_id"]) < replayed_all.index("cli-after")

    follower = subprocess.Popen([str(EXECUTABLE), "events", "--follow", "-o", "json"],
                                env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        with HybridCloudClient(base_url=api, api_key=token) as sdk, \
                ClusterMaker(sdk, "fol", kube, namespace):
            assert follower.stdout is not None
            line = follower.stdout.readline()
        assert json.loads(line)["event"].startswith("cluster.")
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_output_formats_and_shell_completion(cli: CLI, tmp_path: Path) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(yaml.safe_dump({"name": "fmt", "provider": "local", "version": VERSION,
                                    "configuration": {"node_pools": [{"name": "w",
                                                                      "size": 1}]}}))
    created = yaml.safe_load(cli("clusters", "create", "-f", str(spec), "-o", "yaml").stdout)
    assert (created["id"], created["status"]) == ("fmt", "creating")
    assert [c["id"] for c in cli.json("clusters", "list")] == ["fmt"]
    table = cli("clusters", "list").stdout
    assert "PROVIDER" in table and "fmt" in table and "local" in table
    assert cli.json("clusters", "scale", "fmt", "--pool", "w", "--size", "3")["id"] == "fmt"
    cli("clusters", "upgrade", "fmt", "--version", "v1.38.0")
    details = cli.json("clusters", "get", "fmt")
    assert details["version"] == "v1.38.0"
    assert [p["size"] for p in details["configuration"]["node_pools"]] == [3]
    cli("clusters", "scale", "fmt", "--pool", "nope", "--size", "1", expect=Exit.USAGE)
    assert cli.json("clusters", "delete", "fmt")["status"] == "deleting"
    completion = cli("--show-completion", "bash")
    assert "_HYBRIDCLOUD_COMPLETE" in completion.stdout


@pytest.fixture
def operator(management: ControlPlane, namespace: str,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, namespace, tmp_path / "op") as process:
        yield process


def test_create_local_cluster_wait_deploy_scale_and_fleet_status(
        cli: CLI, operator: OperatorProcess, tmp_path: Path) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(yaml.safe_dump({"name": "dev", "provider": "local", "version": VERSION,
                                    "configuration": {"node_pools": [{"name": "workers",
                                                                      "size": 1}]}}))
    created = cli("clusters", "create", "-f", str(spec), "--wait", "-o", "json", timeout=900)
    cluster = json.loads(created.stdout)
    assert (cluster["id"], cluster["status"]) == ("dev", "active")
    assert "cluster dev: succeeded" in created.stderr

    (tmp_path / "repo").mkdir()
    repo = Repo(tmp_path / "repo")
    files: dict[str, str | None] = {**sample_files()}
    repo.commit(files)
    app_spec = tmp_path / "app.yaml"
    app_spec.write_text(yaml.safe_dump({
        "name": "sample-app", "namespace": "shop",
        "source": {"repository": repo.url, "path": "k8s", "revision": "main"},
        "values": {"replicas": 1}}))
    cli("apps", "deploy", "dev", "-f", str(app_spec), "--wait", timeout=600)
    apps = cli.json("apps", "list", "dev")
    assert [a["name"] for a in apps] == ["sample-app"]
    assert "sample-app" in cli("apps", "status", "dev", "sample-app").stdout

    def deployed() -> bool:
        listing = cli.json("workloads", "list", "dev", "--namespace", "shop")
        names = [d["name"] for d in listing["workloads"]["deployments"]]
        return "sample-app" in names
    eventually(deployed, timeout=120, interval=2)
    scaled = cli.json("workloads", "scale", "dev", "deployments", "shop", "sample-app",
                      "--replicas", "2")
    assert scaled["replicas"]["desired"] == 2

    fleet = cli.json("status")
    assert fleet["clusters"]["total"] == 1
    assert fleet["applications"]["total"] == 1

    cli("clusters", "scale", "dev", "--pool", "workers", "--size", "2", "--wait", timeout=600)
    assert cli.json("clusters", "get", "dev")["nodes"]["worker"] == 2
