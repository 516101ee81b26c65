"""The local control plane against the real binaries: start, serve, schedule, stop, CLI."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hybridcloud.controlplane import ControlPlane, ControlPlaneError, Profile, _cluster, _net
from hybridcloud.controlplane._api import tls_context
from hybridcloud.controlplane._process import pid_alive

KUBERNETES_VERSION = "v1.37.2"
_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def _binaries_available() -> bool:
    return bool(os.environ.get("HYBRIDCLOUD_BIN_DIR")) or all(shutil.which(t) for t in _TOOLS)


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not _binaries_available(),
        reason="control-plane binaries unavailable: set HYBRIDCLOUD_BIN_DIR to the directory "
        "printed by tests/controlplane/build.sh or put etcd/kube-*/kwok on PATH",
    ),
]


def _client(kubeconfig: Path, scratch: Path) -> httpx.Client:
    """An httpx client built only from a kubeconfig, proving the kubeconfig is complete."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    scratch.mkdir(parents=True, exist_ok=True)
    files = {
        "ca.crt": cluster["certificate-authority-data"],
        "tls.crt": user["client-certificate-data"],
        "tls.key": user["client-key-data"],
    }
    for name, data in files.items():
        (scratch / name).write_bytes(base64.b64decode(data))
    context = tls_context(scratch / "ca.crt", scratch / "tls.crt", scratch / "tls.key")
    return httpx.Client(base_url=cluster["server"], verify=context, timeout=10)


def _eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def _all_dead(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("member"), Profile.MEMBER, name="m1", nodes=2)
    began = time.monotonic()
    plane.start()
    print(f"member profile with 2 nodes ready in {time.monotonic() - began:.1f}s")
    yield plane
    plane.stop()


def test_management_plane_serves_ready_api_of_pinned_version_and_stop_leaves_no_process(
    tmp_path: Path,
) -> None:
    plane = ControlPlane(tmp_path / "work")
    began = time.monotonic()
    plane.start()
    try:
        print(f"management profile ready in {time.monotonic() - began:.1f}s")
        pids = plane.pids()
        assert len(pids) == 3
        assert plane.server.startswith("https://127.0.0.1:")
        with _client(plane.kubeconfig, tmp_path / "admin") as api:
            assert api.get("/readyz").status_code == 200
            assert api.get("/version").json()["gitVersion"] == KUBERNETES_VERSION
            # The admin identity is a cluster admin, not merely authenticated.
            review = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": "*", "resource": "*", "group": "*"}},
            }
            post = api.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review)
            assert post.json()["status"]["allowed"] is True
    finally:
        plane.stop()
    assert _all_dead(pids), "components survived stop()"
    assert plane.pids() == []
    plane.stop()  # idempotent


def test_admin_kubeconfig_works_with_kubectl(member: ControlPlane) -> None:
    kubectl = shutil.which("kubectl", path=os.environ.get("HYBRIDCLOUD_BIN_DIR")) or "kubectl"
    result = subprocess.run(
        [kubectl, "get", "nodes", "-o", "name"],
        env={**os.environ, **member.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert set(result.stdout.split()) >= {"node/m1-node-0", "node/m1-node-1"}


def test_unbound_user_is_authenticated_but_forbidden_to_list_namespaces(
    member: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = member.user_kubeconfig("alice", ["qa"])
    with _client(kubeconfig, tmp_path) as api:
        response = api.get("/api/v1/namespaces")
    assert response.status_code == 403
    # 403 rather than 401: the certificate authenticated; RBAC denied "alice".
    assert '"alice"' in response.json()["message"]


def test_member_nodes_are_ready_fake_kwok_nodes(member: ControlPlane, tmp_path: Path) -> None:
    with _client(member.kubeconfig, tmp_path) as api:
        nodes = api.get("/api/v1/nodes", params={"labelSelector": "type=kwok"}).json()["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["m1-node-0", "m1-node-1"]
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert int(node["status"]["allocatable"]["pods"]) > 0


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]},
            },
        },
    }


def test_member_runs_deployment_to_two_ready_replicas_on_fake_nodes(
    member: ControlPlane, tmp_path: Path
) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    with _client(member.kubeconfig, tmp_path) as api:
        created = api.post(base, json=_deployment("web", 2))
        assert created.status_code == 201, created.text

        def ready_replicas() -> bool:
            status = api.get(f"{base}/web").json().get("status", {})
            return bool(status.get("readyReplicas") == 2)

        _eventually(ready_replicas, 60, "deployment web to have 2 ready replicas")
        pods = api.get("/api/v1/namespaces/default/pods", params={"labelSelector": "app=web"})
        items = pods.json()["items"]
    assert len(items) == 2
    for pod in items:
        assert pod["spec"]["nodeName"] in {"m1-node-0", "m1-node-1"}
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"]
        assert pod["status"]["containerStatuses"][0]["state"]["running"]


def test_deleted_pods_are_removed_by_the_fake_kubelet(member: ControlPlane, tmp_path: Path) -> None:
    pods = "/api/v1/namespaces/default/pods"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "doomed", "finalizers": ["example.com/hold"]},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1"}]},
    }
    with _client(member.kubeconfig, tmp_path) as api:
        assert api.post(pods, json=pod).status_code == 201
        _eventually(
            lambda: api.get(f"{pods}/doomed").json()["status"].get("phase") == "Running",
            60,
            "pod doomed to run",
        )
        assert api.delete(f"{pods}/doomed").status_code == 200
        _eventually(lambda: api.get(f"{pods}/doomed").status_code == 404, 30, "pod removal")


def test_member_node_count_grows_and_shrinks(member: ControlPlane, tmp_path: Path) -> None:
    def names() -> list[str]:
        with _client(member.kubeconfig, tmp_path) as api:
            params = {"labelSelector": "type=kwok"}
            items = api.get("/api/v1/nodes", params=params).json()["items"]
        return sorted(n["metadata"]["name"] for n in items)

    added = member.add_nodes(1)
    assert added == ["m1-node-2"]
    member.set_node_count(4)
    assert names() == ["m1-node-0", "m1-node-1", "m1-node-2", "m1-node-3"]
    member.set_node_count(2)
    assert names() == ["m1-node-0", "m1-node-1"]


def test_approved_client_csr_is_signed_by_the_client_ca_and_authenticates(
    member: ControlPlane, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carol")])
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    csr_pem = request.public_bytes(serialization.Encoding.PEM)
    csrs = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    csr = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "carol"},
        "spec": {
            "request": base64.b64encode(csr_pem).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
        },
    }
    with _client(member.kubeconfig, tmp_path / "admin") as api:
        assert api.post(csrs, json=csr).status_code == 201
        approved = api.get(f"{csrs}/carol").json()
        approved["status"] = {
            "conditions": [{"type": "Approved", "status": "True", "reason": "Test", "message": ""}]
        }
        assert api.put(f"{csrs}/carol/approval", json=approved).status_code == 200
        issued: list[str] = []

        def signed() -> bool:
            certificate = api.get(f"{csrs}/carol").json()["status"].get("certificate")
            issued.extend([certificate] if certificate else [])
            return bool(issued)

        _eventually(signed, 30, "CSR carol to be signed")
    (tmp_path / "carol.crt").write_bytes(base64.b64decode(issued[0]))
    (tmp_path / "carol.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = tls_context(member.ca_cert, tmp_path / "carol.crt", tmp_path / "carol.key")
    with httpx.Client(base_url=member.server, verify=context) as carol:
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        reply = carol.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json=review)
    assert reply.json()["status"]["userInfo"]["username"] == "carol"


def test_service_account_tokens_issued_by_the_apiserver_authenticate(
    member: ControlPlane, tmp_path: Path
) -> None:
    token_url = "/api/v1/namespaces/default/serviceaccounts/default/token"
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    with _client(member.kubeconfig, tmp_path) as api:
        token = api.post(token_url, json=request).json()["status"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=member.server, verify=tls_context(member.ca_cert)) as anonymous:
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        reply = anonymous.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews", json=review, headers=headers
        )
    assert reply.json()["status"]["userInfo"]["username"] == "system:serviceaccount:default:default"


def test_start_failure_names_the_component_and_includes_its_log(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "etcd"
    broken.write_text("#!/bin/sh\necho 'etcd: disk on fire' >&2\nexit 3\n")
    broken.chmod(0o755)
    real = Path(
        os.environ.get("HYBRIDCLOUD_BIN_DIR") or Path(shutil.which("kube-apiserver") or "").parent
    )
    for tool in _TOOLS[1:]:
        (bin_dir / tool).symlink_to(real / tool)
    plane = ControlPlane(tmp_path / "work", bin_dir=bin_dir)
    with pytest.raises(ControlPlaneError) as failure:
        plane.start(timeout=20)
    message = str(failure.value)
    assert "etcd" in message
    assert "exited with status 3" in message
    assert "disk on fire" in message
    assert plane.pids() == []


def test_a_port_taken_between_choosing_and_binding_it_is_retried_on_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process grabs etcd's client port after it was chosen: the start goes on with
    fresh ports instead of failing (the race parallel test workers hit)."""
    thief = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    thief.bind(("127.0.0.1", 0))
    thief.listen()
    stolen = int(thief.getsockname()[1])
    picks: list[list[int]] = []

    def choose(count: int) -> list[int]:
        ports = _net.free_ports(count)
        if not picks:  # the first choice collides, as if the port were taken meanwhile
            ports[0] = stolen
        picks.append(ports)
        return ports

    monkeypatch.setattr(_cluster, "free_ports", choose)
    plane = ControlPlane(tmp_path / "work")
    try:
        plane.start()
        assert len(picks) == 2, picks  # the first attempt failed to bind, the second did not
        assert plane.server == f"https://127.0.0.1:{picks[1][2]}"
        with _client(plane.kubeconfig, tmp_path / "admin") as api:
            assert api.get("/readyz").status_code == 200
        log = (tmp_path / "work" / "logs" / "etcd.log").read_text(errors="replace")
        assert str(stolen) not in log  # the log was started afresh for the new attempt
    finally:
        plane.stop()
        thief.close()
    assert plane.pids() == []


# -- CLI ---------------------------------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hybridcloud.controlplane", *args]


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """`up` running in the background, once it has printed its kubeconfig path."""
    workdir = tmp_path / "up"
    proc = subprocess.Popen(
        _cli("up", "--dir", str(workdir), "--name", "cli"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != str(workdir / "kubeconfig"):
            proc.kill()
            pytest.fail(f"up did not become ready: {line!r} {proc.communicate()[1]}")
        state = json.loads((workdir / "state.json").read_text())
        state["dir"] = str(workdir)
        yield proc, state
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait()
        subprocess.run(_cli("down", "--dir", str(workdir), "--grace", "1"), check=False)


def test_up_records_state_and_down_stops_it_through_the_supervisor(
    supervisor: tuple[subprocess.Popen[str], dict[str, Any]],
) -> None:
    proc, state = supervisor
    pids = state["pids"]
    assert state["profile"] == "management"
    assert state["server"].startswith("https://127.0.0.1:")
    assert [c["name"] for c in state["components"]] == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
    ]
    assert all(pid_alive(pid) for pid in pids)
    subprocess.run(_cli("down", "--dir", state["dir"]), check=True, timeout=60)
    assert proc.wait(timeout=30) == 0, "supervisor did not exit cleanly on SIGTERM"
    assert _all_dead(pids)
    assert not (Path(state["dir"]) / "state.json").exists()


def test_components_die_with_a_sigkilled_supervisor_and_down_still_succeeds(
    supervisor: tuple[subprocess.Popen[str], dict[str, Any]],
) -> None:
    proc, state = supervisor
    proc.kill()
    proc.wait()
    assert _all_dead(state["pids"], timeout=5), "parent-death signal did not kill components"
    subprocess.run(_cli("down", "--dir", state["dir"]), check=True, timeout=60)
    assert not (Path(state["dir"]) / "state.json").exists()


def test_down_kills_components_recorded_in_state_when_the_supervisor_is_unresponsive(
    supervisor: tuple[subprocess.Popen[str], dict[str, Any]],
) -> None:
    proc, state = supervisor
    # A stopped supervisor neither handles SIGTERM nor dies, so its children keep running and
    # only `down` acting on state.json can stop them.
    proc.send_signal(signal.SIGSTOP)
    subprocess.run(_cli("down", "--dir", state["dir"], "--grace", "1"), check=True, timeout=60)
    assert _all_dead(state["pids"])
    assert not (Path(state["dir"]) / "state.json").exists()
