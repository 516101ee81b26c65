"""Private git repositories end to end: HTTPS with a token (git http-backend behind Basic auth and
TLS from a test CA the operator trusts) and SSH with a key (a throw-away sshd), both on
127.0.0.1, read by the real operator. (Tokens never travel over plain http://; that refusal is
in ``tests/security/test_git_sources.py``.)

Besides "deploys with the Secret, refused without it", every test checks that no secret shows
up anywhere a user or an operator could read it: application objects, Events, the operator's
log and its git cache on disk.
"""

from __future__ import annotations

import base64
import getpass
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Secret
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.controlplane._pki import issue_serving_cert, new_ca
from hybridcloud.kube.references import CREDENTIAL_TYPE_LABEL
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from ..support import missing_tool
from .harness import OperatorProcess, condition, delivery_operator, fresh_namespace, wait_phase
from .test_application_delivery import (
    Repo,
    create_app,
    deployments,
    is_ready,
    owned_anything,
    sample_files,
    wait_app,
)

pytestmark = pytest.mark.integration
TOKEN = f"tok-{uuid.uuid4().hex}"
DEPLOYER_TOKEN = f"dep-{uuid.uuid4().hex}"
NEEDS_SECRET = ("requires authentication: set spec.source.secretRef to a Secret with key "
                "`token` (HTTPS) or `sshPrivateKey` (SSH)")


# -- servers ---------------------------------------------------------------------------------

class GitHttpServer:
    """Smart HTTP git (``git http-backend`` as CGI) that requires ``Authorization: Basic``;
    over TLS with ``tls`` = (certificate file, key file)."""

    def __init__(self, root: Path, accounts: dict[str, str],
                 tls: tuple[Path, Path] | None = None) -> None:
        self.root = root
        self.accepted = {"Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                         for user, password in accounts.items()}
        self.requests: list[tuple[str, bool]] = []  # (path, authorized)
        serve = self._serve

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                serve(self)

            def do_POST(self) -> None:
                serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, bare: Path) -> str:
        return (f"{self.scheme}://127.0.0.1:{self.httpd.server_port}/"
                f"{bare.relative_to(self.root)}")

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        authorized = request.headers.get("Authorization") in self.accepted
        self.requests.append((request.path, authorized))
        if not authorized:
            request.send_response(401)
            request.send_header("WWW-Authenticate", 'Basic realm="git"')
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        path, _, query = request.path.partition("?")
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(self.root),
               "GIT_HTTP_EXPORT_ALL": "1", "GATEWAY_INTERFACE": "CGI/1.1",
               "REQUEST_METHOD": request.command, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_TYPE": request.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1"}
        for header, variable in (("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                                 ("Git-Protocol", "GIT_PROTOCOL")):
            if request.headers.get(header):
                env[variable] = request.headers[header]
        cgi = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                             check=False)
        head, _, payload = cgi.stdout.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().splitlines() if ":" in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        request.send_response(status)
        for key, value in headers:
            if key.lower() != "status":
                request.send_header(key, value.strip())
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SshServer:
    """sshd on 127.0.0.1 accepting one client key, for ``ssh://`` git URLs."""

    def __init__(self, sshd: str, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        for name in ("host", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                            str(root / name)], check=True)
        (root / "authorized_keys").write_text((root / "client.pub").read_text())
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        (root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root / 'host'}\n"
            f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {root / 'sshd.pid'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nPermitRootLogin prohibit-password\n")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        self.process = subprocess.Popen([sshd, "-D", "-e", "-f", str(root / "sshd_config")],
                                        stderr=(root / "sshd.log").open("wb"))
        self.user = getpass.getuser()
        self.private_key = (root / "client").read_text()
        self.known_hosts = f"[127.0.0.1]:{self.port} {(root / 'host.pub').read_text()}"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError((root / "sshd.log").read_text()) from None
                time.sleep(0.1)

    def url(self, bare: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{bare}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# -- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app_namespace(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "private") as name:
        yield name


@pytest.fixture(scope="module")
def git_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA bundle, server certificate, server key) for the HTTPS git server on 127.0.0.1."""
    root = tmp_path_factory.mktemp("git-tls")
    ca = new_ca("git test CA")
    (root / "ca.crt").write_bytes(ca.cert_pem())
    issue_serving_cert(ca, "git", ["localhost"], ["127.0.0.1"]).write(root / "tls.crt",
                                                                       root / "tls.key")
    return root / "ca.crt", root / "tls.crt", root / "tls.key"


@pytest.fixture(scope="module")
def operator(management: ControlPlane, app_namespace: str, git_tls: tuple[Path, Path, Path],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, app_namespace,
                           tmp_path_factory.mktemp("operator"),
                           HYBRIDCLOUD_OPERATOR_GIT_CA_BUNDLE=str(git_tls[0])) as process:
        yield process


@pytest.fixture(scope="module")
def member(kube: Client, app_namespace: str, operator: OperatorProcess) -> Client:
    """One Active `local` cluster, "solo"."""
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": "solo"},
        "spec": {"provider": "local", "version": "v1.37.2", "region": "local-a",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=app_namespace)
    wait_phase(kube, app_namespace, "solo", "Active", operator, timeout=180)
    secret = kube.get(Secret, name="solo-kubeconfig", namespace=app_namespace)
    text = base64.b64decode((secret.data or {})["value"]).decode()
    return Client(config=KubeConfig.from_dict(yaml.safe_load(text)), field_manager="tests")


@pytest.fixture(scope="module")
def git_http(tmp_path_factory: pytest.TempPathFactory,
             git_tls: tuple[Path, Path, Path]) -> Iterator[GitHttpServer]:
    server = GitHttpServer(tmp_path_factory.mktemp("git-http"),
                           {"x-access-token": TOKEN, "deployer": DEPLOYER_TOKEN},
                           tls=(git_tls[1], git_tls[2]))
    yield server
    server.close()


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    sshd = shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.path.exists(p)), None)
    if sshd is None or shutil.which("ssh-keygen") is None:
        missing_tool("no OpenSSH server here (apt-get install openssh-server)")
    server = SshServer(sshd, tmp_path_factory.mktemp("sshd"))
    yield server
    server.close()


# -- helpers ---------------------------------------------------------------------------------

def private_repo(root: Path) -> Repo:
    home = root / uuid.uuid4().hex[:8]
    home.mkdir()
    repo = Repo(home)
    repo.commit(sample_files())
    return repo


def secret(kube: Client, namespace: str, name: str, **data: str) -> None:
    """A git credentials Secret, opted in with the label the operator requires."""
    kube.create(Secret(metadata=ObjectMeta(name=name, labels={CREDENTIAL_TYPE_LABEL: "git"}),
                       stringData=data), namespace=namespace)


def synced_reason(reason: str) -> Any:
    return lambda o: (condition(o, "Synced") or {}).get("reason") == reason


def assert_nowhere(kube: Client, namespace: str, operator: OperatorProcess,
                   secrets: list[str]) -> None:
    """No secret (nor any line of a multi-line one) in objects, Events, log or git cache."""
    needles = {line.strip() for s in secrets for line in s.splitlines()
               if len(line.strip()) > 8 and not line.startswith("-----")}  # not PEM armour
    apps = [a.to_dict() for a in kube.list(MultiClusterApplicationResource, namespace=namespace)]
    events = [e.to_dict() for e in kube.list(Event, namespace=namespace)]
    readable = {"applications": yaml.safe_dump(apps), "events": yaml.safe_dump(events),
                "operator log": operator.log.read_text(errors="replace")}
    assert events, "the failures above should have been recorded as Events"
    for path in (operator.workdir / "delivery").rglob("*"):
        if path.is_file():
            readable[str(path)] = path.read_bytes().decode(errors="replace")
    for where, text in readable.items():
        for needle in needles:
            assert needle not in text, f"a secret shows in {where}"


# -- HTTPS-style token -----------------------------------------------------------------------

def test_a_private_repository_is_refused_without_a_secret_and_deploys_with_a_token(
        kube: Client, app_namespace: str, operator: OperatorProcess, member: Client,
        git_http: GitHttpServer) -> None:
    ns = app_namespace
    repo = private_repo(git_http.root)
    repo.url = git_http.url(repo.bare)
    uid = create_app(kube, ns, "private", repo, "k8s/manifests", targetNamespace="private",
                     placement=[{"cluster": "solo"}])
    obj = wait_app(kube, ns, "private", operator, synced_reason("AuthenticationFailed"),
                   "Synced=False AuthenticationFailed")
    assert (condition(obj, "Synced") or {})["message"] == f"{repo.url} {NEEDS_SECRET}"
    assert (condition(obj, "Stalled") or {}).get("status") == "True"
    assert owned_anything(member, uid) == []
    assert git_http.requests and not any(ok for _, ok in git_http.requests)

    secret(kube, ns, "git-token", token=TOKEN)  # no username: the default one is sent
    kube.patch(MultiClusterApplicationResource, "private",
               {"spec": {"source": {"secretRef": {"name": "git-token"}}}}, namespace=ns,
               patch_type=PatchType.MERGE)
    wait_app(kube, ns, "private", operator, is_ready, "Ready with the token")
    assert deployments(member, "private", uid)["sample-app"].status.readyReplicas == 1
    assert any(ok and path.endswith("/git-upload-pack") for path, ok in git_http.requests)

    # The mirror the token just filled is fresh, yet an app without the token must not read it.
    other = create_app(kube, ns, "freeloader", repo, "k8s/manifests",
                       targetNamespace="freeloader", placement=[{"cluster": "solo"}])
    obj = wait_app(kube, ns, "freeloader", operator, synced_reason("AuthenticationFailed"),
                   "freeloader refused")
    assert (condition(obj, "Synced") or {})["message"] == f"{repo.url} {NEEDS_SECRET}"
    assert owned_anything(member, other) == []
    assert_nowhere(kube, ns, operator, [TOKEN])


def test_the_secret_username_is_sent_and_wrong_or_incomplete_secrets_say_what_is_wrong(
        kube: Client, app_namespace: str, operator: OperatorProcess, member: Client,
        git_http: GitHttpServer) -> None:
    ns = app_namespace
    repo = private_repo(git_http.root)
    repo.url = git_http.url(repo.bare)
    secret(kube, ns, "deployer", username="deployer", token=DEPLOYER_TOKEN)
    secret(kube, ns, "wrong-user", username="deployer", token=TOKEN)
    secret(kube, ns, "no-token", username="deployer", note="forgot the token")
    uid = create_app(kube, ns, "as-deployer", repo, "k8s/manifests", targetNamespace="deployer",
                     placement=[{"cluster": "solo"}],
                     source={"repository": repo.url, "path": "k8s/manifests",
                             "revision": "main", "secretRef": {"name": "deployer"}})
    wait_app(kube, ns, "as-deployer", operator, is_ready, "Ready as deployer")
    assert deployments(member, "deployer", uid)

    # secretRef.key: the token lives under a name of the Secret owner's choosing.
    secret(kube, ns, "ci-pat", username="deployer", pat=DEPLOYER_TOKEN)
    keyed = create_app(kube, ns, "keyed", repo, "k8s/manifests", targetNamespace="keyed",
                       placement=[{"cluster": "solo"}],
                       source={"repository": repo.url, "path": "k8s/manifests",
                               "revision": "main", "secretRef": {"name": "ci-pat", "key": "pat"}})
    wait_app(kube, ns, "keyed", operator, is_ready, "Ready with secretRef.key")
    assert deployments(member, "keyed", keyed)
    create_app(kube, ns, "mis-keyed", repo, "k8s/manifests", targetNamespace="mis-keyed",
               placement=[{"cluster": "solo"}],
               source={"repository": repo.url, "path": "k8s/manifests", "revision": "main",
                       "secretRef": {"name": "ci-pat", "key": "token"}})
    mis_keyed = wait_app(kube, ns, "mis-keyed", operator, synced_reason("InvalidCredentials"),
                         "a missing secretRef.key reported")
    assert (condition(mis_keyed, "Synced") or {})["message"] == (
        "spec.source.secretRef.key: Secret ci-pat has no key 'token'")

    for name, secret_name in (("rejected", "wrong-user"), ("incomplete", "no-token")):
        create_app(kube, ns, name, repo, "k8s/manifests", targetNamespace=name,
                   placement=[{"cluster": "solo"}],
                   source={"repository": repo.url, "path": "k8s/manifests",
                           "revision": "main", "secretRef": {"name": secret_name}})
    rejected = wait_app(kube, ns, "rejected", operator, synced_reason("AuthenticationFailed"),
                        "rejected credentials reported")
    assert (condition(rejected, "Synced") or {})["message"].startswith(
        f"{repo.url} refused the credentials in the Secret of spec.source.secretRef (")
    incomplete = wait_app(kube, ns, "incomplete", operator,
                          synced_reason("InvalidCredentials"), "incomplete Secret reported")
    assert (condition(incomplete, "Synced") or {})["message"] == (
        "spec.source.secretRef: Secret no-token has neither key `token` (HTTPS) nor "
        "`sshPrivateKey` (SSH)")
    assert_nowhere(kube, ns, operator, [TOKEN, DEPLOYER_TOKEN, "forgot the token"])


# -- SSH key ---------------------------------------------------------------------------------

def test_an_ssh_key_and_known_hosts_from_the_secret_deploy_over_ssh(
        kube: Client, app_namespace: str, operator: OperatorProcess, member: Client,
        ssh_server: SshServer, tmp_path: Path) -> None:
    ns = app_namespace
    repo = private_repo(tmp_path)
    repo.url = ssh_server.url(repo.bare)
    secret(kube, ns, "ssh-key", sshPrivateKey=ssh_server.private_key,
           knownHosts=ssh_server.known_hosts)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
                   check=True)
    stranger = f"[127.0.0.1]:{ssh_server.port} {(tmp_path / 'other.pub').read_text()}"
    secret(kube, ns, "ssh-other-host", sshPrivateKey=ssh_server.private_key,
           knownHosts=stranger)
    uid = create_app(kube, ns, "over-ssh", repo, "k8s/manifests", targetNamespace="over-ssh",
                     placement=[{"cluster": "solo"}],
                     source={"repository": repo.url, "path": "k8s/manifests",
                             "revision": "main", "secretRef": {"name": "ssh-key"}})
    create_app(kube, ns, "spoofed", repo, "k8s/manifests", targetNamespace="spoofed",
               placement=[{"cluster": "solo"}],
               source={"repository": repo.url, "path": "k8s/manifests", "revision": "main",
                       "secretRef": {"name": "ssh-other-host"}})
    wait_app(kube, ns, "over-ssh", operator, is_ready, "Ready over ssh")
    assert deployments(member, "over-ssh", uid)["sample-app"].status.readyReplicas == 1
    spoofed = wait_app(kube, ns, "spoofed", operator, synced_reason("AuthenticationFailed"),
                       "host key mismatch reported")
    assert (condition(spoofed, "Synced") or {})["message"] == (
        f"the SSH host key of {repo.url.replace(f'{ssh_server.user}@', '***@')} does not "
        "match `knownHosts` in the Secret of spec.source.secretRef")
    assert_nowhere(kube, ns, operator, [ssh_server.private_key])
