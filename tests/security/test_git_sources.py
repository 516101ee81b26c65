"""A hostile tenant names git sources: local paths into the operator's cache, URLs that carry or
leak credentials, transports that run commands, SSH hosts nobody vouched for, servers that
never finish. Against the real operator process (local sources off, as in production) and the
real REST API; each attack is refused naming the field and the attacker's host receives nothing
secret (or nothing at all).
"""

from __future__ import annotations

import select
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.delivery.git import GitCache
from hybridcloud.kube.references import CREDENTIAL_TYPE_LABEL
from hybridcloud.kube.resources import MultiClusterApplicationResource

from ..integration.api_support import bearer, identity, serve
from ..integration.harness import (
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
)
from .attacker import RecordingServer

pytestmark = pytest.mark.integration
TOKEN = f"tok-{uuid.uuid4().hex}"
SSH_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
           f"b3BlbnNzaC1rZXktdjEAAAAA{uuid.uuid4().hex}\n-----END OPENSSH PRIVATE KEY-----\n")


@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "git-attack") as name:
        # Opted in as git credentials: these tests prove the guards that come after the label.
        git = {CREDENTIAL_TYPE_LABEL: "git"}
        kube.create(Secret(metadata=ObjectMeta(name="git-token", labels=git),
                           stringData={"token": TOKEN}), namespace=name)
        kube.create(Secret(metadata=ObjectMeta(name="ssh-key", labels=git),
                           stringData={"sshPrivateKey": SSH_KEY}), namespace=name)
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """Production settings for sources (no local repositories); a quick low-speed abort and
    one fetch slot per namespace, to make the exhaustion tests quick."""
    with delivery_operator(management.kubeconfig, tenant, tmp_path_factory.mktemp("operator"),
                           HYBRIDCLOUD_OPERATOR_ALLOW_LOCAL_SOURCES="false",
                           HYBRIDCLOUD_OPERATOR_GIT_LOW_SPEED_SECONDS="2",
                           HYBRIDCLOUD_OPERATOR_GIT_FETCHES_PER_NAMESPACE="1",
                           HYBRIDCLOUD_OPERATOR_GIT_TIMEOUT="60") as process:
        yield process


def create_app(kube: Client, namespace: str, repository: str,
               secret: str | None = None) -> str:
    name = f"app-{uuid.uuid4().hex[:8]}"
    source: dict[str, Any] = {"type": "git", "repository": repository, "path": ".",
                              "revision": "main"}
    if secret:
        source["secretRef"] = {"name": secret}
    kube.create(MultiClusterApplicationResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
        "metadata": {"name": name},
        "spec": {"source": source, "placementPolicy": {"strategy": "availability"}}}),
        namespace=namespace)
    return name


def stalled(kube: Client, namespace: str, name: str, operator: OperatorProcess,
            timeout: float = 60) -> dict[str, Any]:
    """The app's Synced condition once Stalled=True; fails with the status and log otherwise."""
    def probe() -> dict[str, Any] | None:
        obj = kube.get(MultiClusterApplicationResource, name, namespace=namespace).to_dict()
        if (condition(obj, "Stalled") or {}).get("status") == "True":
            return dict(condition(obj, "Synced") or {})
        return None

    return eventually(probe, timeout=timeout, message=lambda: (
        f"{name} never Stalled: "
        f"{kube.get(MultiClusterApplicationResource, name, namespace=namespace).to_dict()}"
        f"\n{operator.tail(30)}"))


def assert_not_fetched(operator: OperatorProcess, repository: str) -> None:
    """Nothing reached git for ``repository``: no mirror, no exported tree in the cache."""
    cache = operator.workdir / "delivery" / "git"
    trees = GitCache(cache).tree(repository, "0" * 40).parent  # trees/<repository key>
    assert not (cache / "repos" / f"{trees.name}.git").exists(), "a mirror was created"
    assert not trees.exists(), "a tree was exported"


# -- local repositories ------------------------------------------------------------------------

def victim_mirror(operator: OperatorProcess) -> Path:
    """Where another tenant's private mirror would sit in the operator's cache."""
    bare = operator.workdir / "delivery" / "git" / "victim" / "private.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "--bare", "--quiet", str(bare)], check=True)
    return bare


@pytest.mark.parametrize("form", ["file://{path}", "{path}", "../../git/victim/private.git",
                                  "file://localhost{path}"])
def test_another_tenants_mirror_cannot_be_read_through_a_local_path(
        kube: Client, tenant: str, operator: OperatorProcess, form: str) -> None:
    bare = victim_mirror(operator)
    repository = form.format(path=bare)
    name = create_app(kube, tenant, repository)
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "InvalidSource"
    assert synced["message"].startswith("spec.source.repository: local repositories (file:// "
                                        "URLs and paths) are not allowed")
    assert str(bare) not in synced["message"]
    assert_not_fetched(operator, repository)


# -- credentials in transit --------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["http", "git"])
def test_credentials_are_never_sent_over_clear_text_transports(
        kube: Client, tenant: str, operator: OperatorProcess, attacker: RecordingServer,
        scheme: str) -> None:
    port = attacker.url.rsplit(":", 1)[1]
    repository = f"{scheme}://127.0.0.1:{port}/team/app.git"
    name = create_app(kube, tenant, repository, "git-token")
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "InvalidSource"
    assert synced["message"] == (f"spec.source.repository: credentials are never sent over "
                                 f"{scheme}:// (clear text); use https:// or ssh://")
    assert attacker.requests == [], "the operator contacted the host at all"
    attacker.assert_received_none_of([TOKEN])
    assert_not_fetched(operator, repository)
    assert TOKEN not in operator.log.read_text(errors="replace")


def test_plain_http_without_credentials_still_sends_no_secret(
        kube: Client, tenant: str, operator: OperatorProcess, attacker: RecordingServer) -> None:
    """The public-repository case stays possible; the 401 asks for credentials and gets none."""
    name = create_app(kube, tenant, f"{attacker.url}/team/app.git")
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "AuthenticationFailed"
    assert attacker.requests, "the public fetch was attempted"
    attacker.assert_received_none_of([TOKEN, SSH_KEY.splitlines()[1]])
    assert not any("Authorization" in r.headers for r in attacker.requests)


@pytest.mark.parametrize(("url", "said"), [
    ("http://x-access-token:{token}@127.0.0.1:{port}/app.git", "must not embed credentials"),
    ("https://{token}@127.0.0.1:{port}/app.git", "must not embed credentials"),
    ("ext::sh -c curl% http://127.0.0.1:{port}/ran", "git remote helpers (ext::)"),
    ("fd::3", "git remote helpers (fd::)"),
    ("-uhttp://127.0.0.1:{port}/x", "must not start with '-'"),
    ("ftp://127.0.0.1:{port}/app.git", "scheme ftp:// is not allowed"),
    ("127.0.0.1:{port}/app.git", "not a supported repository URL"),
])
def test_url_forms_outside_the_allowed_transports_are_refused_naming_the_field(
        kube: Client, tenant: str, operator: OperatorProcess, attacker: RecordingServer,
        url: str, said: str) -> None:
    port = attacker.url.rsplit(":", 1)[1]
    repository = url.format(token=TOKEN, port=port)
    name = create_app(kube, tenant, repository)
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "InvalidSource"
    assert synced["message"].startswith("spec.source.repository: ") and said in \
        synced["message"]
    assert TOKEN not in synced["message"]
    assert attacker.requests == []
    assert_not_fetched(operator, repository)


# -- SSH host keys -----------------------------------------------------------------------------

@pytest.fixture
def ssh_listener() -> Iterator[socket.socket]:
    """A TCP port standing in for an SSH server: any connection shows up as a pending accept."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        yield listener


def connections(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            accepted, _ = listener.accept()
        except BlockingIOError:
            return count
        accepted.close()
        count += 1


@pytest.mark.parametrize("secret", ["ssh-key", None])
def test_ssh_without_known_host_keys_is_refused_before_connecting(
        kube: Client, tenant: str, operator: OperatorProcess, ssh_listener: socket.socket,
        secret: str | None) -> None:
    port = ssh_listener.getsockname()[1]
    name = create_app(kube, tenant, f"ssh://git@127.0.0.1:{port}/team/app.git", secret)
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "InvalidSource"
    assert "add key `knownHosts`" in synced["message"]
    assert "HYBRIDCLOUD_OPERATOR_SSH_KNOWN_HOSTS" in synced["message"]
    assert connections(ssh_listener) == 0, "the operator connected to an unverified host"
    assert SSH_KEY.splitlines()[1] not in operator.log.read_text(errors="replace")


# -- slow servers ------------------------------------------------------------------------------

@dataclass
class Dripping:
    """A server that never finishes; ``peak`` is the most connections it had open at once."""

    url: str
    connections: int = 0
    open: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def dripping_server() -> Iterator[Dripping]:
    """Answers git's first request (any path) with a promise of 1 MB, then sends one byte a
    second for at most 60 s."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    server = Dripping(f"http://127.0.0.1:{listener.getsockname()[1]}/team/app.git")

    def drip(connection: socket.socket) -> None:
        with server.lock:
            server.connections += 1
            server.open += 1
            server.peak = max(server.peak, server.open)
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/"
                               b"x-git-upload-pack-advertisement\r\nContent-Length: 1000000\r\n"
                               b"\r\n")
            for _ in range(60):
                # A second of waiting, unless the client hangs up (EOF) or the test ends.
                readable, _, _ = select.select([connection], [], [], 1.0)
                if stop.is_set() or (readable and not connection.recv(1)):
                    break
                try:
                    connection.sendall(b"0")
                except OSError:
                    break
        with server.lock:
            server.open -= 1

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=drip, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server
    finally:
        stop.set()
        listener.close()


def test_a_server_dripping_bytes_is_aborted_naming_the_low_speed_limit(
        kube: Client, tenant: str, operator: OperatorProcess,
        dripping_server: Dripping) -> None:
    started = time.monotonic()
    name = create_app(kube, tenant, dripping_server.url)
    synced = stalled(kube, tenant, name, operator, timeout=45)
    assert synced["reason"] == "LimitExceeded"
    assert "HYBRIDCLOUD_OPERATOR_GIT_LOW_SPEED_BYTES=1000" in synced["message"]
    assert "HYBRIDCLOUD_OPERATOR_GIT_LOW_SPEED_SECONDS=2" in synced["message"]
    assert time.monotonic() - started < 45, "the fetch was not bounded by the low-speed limit"
    mirror = GitCache(operator.workdir / "delivery" / "git").tree(dripping_server.url, "0" * 40)
    assert not mirror.parent.exists(), "nothing was exported"


def test_slow_servers_hold_at_most_the_namespaces_fetch_slots(
        kube: Client, tenant: str, operator: OperatorProcess,
        dripping_server: Dripping) -> None:
    """Three apps of one tenant on a server that never finishes: with one fetch slot per
    namespace (this operator's setting) they take turns instead of holding three workers."""
    base = dripping_server.url.removesuffix("/team/app.git")
    # Three repositories: fetches of one repository queue on its mirror anyway.
    names = [create_app(kube, tenant, f"{base}/team/app-{i}.git") for i in range(3)]
    for name in names:
        assert stalled(kube, tenant, name, operator, timeout=60)["reason"] == "LimitExceeded"
    assert dripping_server.connections >= 3
    assert dripping_server.peak == 1, f"{dripping_server.peak} fetches of one namespace at once"


# -- the REST API ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    with serve(Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        oauth_namespace="git-attack-oauth")) as base:
        yield base


@pytest.mark.parametrize(("repository", "secret", "said"), [
    ("file:///var/cache/hybridcloud/delivery/git/repos/0123.git", None, "local repositories"),
    ("/srv/other-tenant.git", None, "local repositories"),
    ("http://127.0.0.1:9/app.git", "git-token", "credentials are never sent over http://"),
    ("https://user:pw-{token}@127.0.0.1:9/app.git", None, "must not embed credentials"),
    ("ext::sh -c id", None, "git remote helpers"),
])
def test_the_api_refuses_the_same_sources_with_a_400_naming_source_repository(
        api: str, kube: Client, tenant: str, repository: str, secret: str | None,
        said: str) -> None:
    token = identity(kube, tenant, "deployer")
    body: dict[str, Any] = {"name": f"api-{uuid.uuid4().hex[:8]}", "source": {
        "repository": repository.format(token=TOKEN), "revision": "main"},
        "placement_policy": {"strategy": "availability"}}
    if secret:
        body["source"]["secret_name"] = secret
    response = httpx.post(f"{api}/v1/multi-cluster/applications?namespace={tenant}",
                          json=body, headers=bearer(token), timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"]["field"] == "source.repository"
    assert error["message"].startswith("source.repository: ") and said in error["message"]
    assert TOKEN not in response.text
    names = {a.metadata.name for a in kube.list(MultiClusterApplicationResource,
                                                namespace=tenant)}
    assert body["name"] not in names, "nothing was written"
