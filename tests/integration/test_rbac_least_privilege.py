"""The RBAC of deploy/ (= the chart's) is exactly what the processes need, proven by running them.

A fresh management cluster gets ``kubectl apply -k deploy/``; the operator and the API then run
with TokenRequest tokens of their own ServiceAccounts (never admin), and users get kubeconfigs
bound only to the roles under test.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.core_v1 import Event, Namespace, Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import RoleBinding

from hybridcloud.controlplane import ControlPlane, Profile
from hybridcloud.delivery.gitpushes import RECORD_NAME, RecordedPush
from hybridcloud.kube.bootstrap import client_for, request_token, wait_until_creatable
from hybridcloud.kube.member_credentials import platform_secret_name
from hybridcloud.kube.resources import HybridClusterResource

from .api_support import api_process
from .git_hook_support import (
    create_application,
    push_payload,
    pushes_since,
    secrets_dir,
    signed_headers,
)
from .harness import OperatorProcess, eventually, wait_gone, wait_phase

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "hybridcloud-system"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]
# What a permission failure looks like in either process's log.
DENIED = ("forbidden", "Not enough permissions", " 403")


@pytest.fixture(scope="module")
def cluster(bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("rbac"), Profile.MANAGEMENT, name="rbac",
                      bin_dir=bin_dir) as plane:
        answer = subprocess.run(
            [str(bin_dir / "kubectl"), "--kubeconfig", str(plane.kubeconfig), "apply",
             "--server-side", "-k", str(ROOT / "deploy")],
            capture_output=True, text=True, timeout=120, check=False)
        assert answer.returncode == 0, answer.stderr
        for crd in ("hybridclusters", "multiclusterapplications"):
            subprocess.run([str(bin_dir / "kubectl"), "--kubeconfig", str(plane.kubeconfig),
                            "wait", "--for=condition=Established",
                            f"crd/{crd}.platform.example.com", "--timeout=30s"],
                           capture_output=True, check=True, timeout=60)
        # Established is not yet creatable: wait out the CRDs' warm-up before the tests write.
        wait_until_creatable(client_for(plane.kubeconfig), time.monotonic() + 30)
        yield plane


@pytest.fixture(scope="module")
def admin(cluster: ControlPlane) -> Client:
    return Client(config=KubeConfig.from_file(cluster.kubeconfig), field_manager="tests")


@pytest.fixture
def namespace(admin: Client) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    admin.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    admin.delete(Namespace, name)


def token_kubeconfig(cluster: ControlPlane, admin: Client, namespace: str, account: str,
                     path: Path) -> Path:
    """A kubeconfig authenticating as ``namespace/account`` with a TokenRequest token."""
    token = request_token(admin, namespace, account, expiration_seconds=3600)
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": {"server": cluster.server,
                                               "certificate-authority": str(cluster.ca_cert)}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": account}}]}))
    return path


def kubectl_as(bin_dir: Path, kubeconfig: Path) -> Kubectl:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
                              input=stdin, capture_output=True, text=True, timeout=60,
                              check=False)
    return run


def can(kubectl: Kubectl, verb: str, resource: str, namespace: str | None) -> bool:
    """SelfSubjectAccessReview; ``resource`` may name a subresource as ``plural/sub``."""
    where = ["-n", namespace] if namespace else ["--all-namespaces"]
    resource, _, subresource = resource.partition("/")
    sub = [f"--subresource={subresource}"] if subresource else []
    answer = kubectl("auth", "can-i", verb, resource, *sub, *where)
    assert answer.stdout.strip() in ("yes", "no"), answer.stderr
    return answer.stdout.strip() == "yes"


def can_named(kubectl: Kubectl, verb: str, resource_and_name: str, namespace: str) -> bool:
    """SelfSubjectAccessReview for one object, ``plural/name``."""
    answer = kubectl("auth", "can-i", verb, resource_and_name, "-n", namespace)
    assert answer.stdout.strip() in ("yes", "no"), answer.stderr
    return answer.stdout.strip() == "yes"


def assert_permissions(kubectl: Kubectl, namespace: str, allowed: list[str],
                       denied: list[str]) -> None:
    """Each entry is "verb resource" (namespaced in ``namespace``) or "verb resource *"."""
    def check(entry: str) -> bool:
        verb, resource, *scope = entry.split()
        return can(kubectl, verb, resource, None if scope else namespace)
    assert [e for e in allowed if not check(e)] == [], "missing permissions"
    assert [e for e in denied if check(e)] == [], "excess permissions"


# -- the operator ---------------------------------------------------------------------------------

OPERATOR_ALLOWED = [
    "list hybridclusters.platform.example.com *", "watch hybridclusters.platform.example.com *",
    "get hybridclusters.platform.example.com", "patch hybridclusters.platform.example.com",
    "patch hybridclusters.platform.example.com/status",
    "list multiclusterapplications.platform.example.com *",
    "watch multiclusterapplications.platform.example.com *",
    "patch multiclusterapplications.platform.example.com",
    "patch multiclusterapplications.platform.example.com/status",
    "get secrets", "create secrets", "patch secrets",
    "create events", "create events.events.k8s.io",
    "list namespaces *", "watch namespaces *",
    "list customresourcedefinitions.apiextensions.k8s.io *",
    "watch customresourcedefinitions.apiextensions.k8s.io *",
    "list tenantpolicies.platform.example.com *", "watch tenantpolicies.platform.example.com *",
    # SecurityPolicy controller (issue 16)
    "list securitypolicies.platform.example.com *", "watch securitypolicies.platform.example.com *",
    "patch securitypolicies.platform.example.com",
    "patch securitypolicies.platform.example.com/status",
]
OPERATOR_DENIED = [
    "create hybridclusters.platform.example.com", "delete hybridclusters.platform.example.com",
    "update hybridclusters.platform.example.com",
    "delete multiclusterapplications.platform.example.com",
    "delete secrets", "update secrets", "watch secrets", "list secrets", "list secrets *",
    "create namespaces *", "delete namespaces *",
    "create customresourcedefinitions.apiextensions.k8s.io *",
    "get configmaps", "list pods", "create deployments.apps",
    "create serviceaccounts/token", "create clusterroles.rbac.authorization.k8s.io *",
    "create tokenreviews.authentication.k8s.io *",
    "create tenantpolicies.platform.example.com *", "patch tenantpolicies.platform.example.com *",
    "delete tenantpolicies.platform.example.com *",
    "create securitypolicies.platform.example.com",
    "delete securitypolicies.platform.example.com",
    "create validatingadmissionpolicies.admissionregistration.k8s.io *",
]


@pytest.fixture(scope="module")
def operator_kubeconfig(cluster: ControlPlane, admin: Client,
                        tmp_path_factory: pytest.TempPathFactory) -> Path:
    return token_kubeconfig(cluster, admin, SYSTEM, "hybridcloud-operator",
                            tmp_path_factory.mktemp("operator-sa") / "kubeconfig")


def test_operator_account_has_what_the_operator_needs_and_nothing_more(
    operator_kubeconfig: Path, bin_dir: Path, namespace: str,
) -> None:
    kubectl = kubectl_as(bin_dir, operator_kubeconfig)
    assert_permissions(kubectl, namespace, OPERATOR_ALLOWED, OPERATOR_DENIED)
    # The platform copies of member credentials: also deleted, in the platform namespace only.
    assert can(kubectl, "delete", "secrets", SYSTEM)
    # The Git push record the API writes is watched there (issue 19), nowhere else.
    assert can(kubectl, "list", "configmaps", SYSTEM)
    assert can(kubectl, "watch", "configmaps", SYSTEM)
    assert not can(kubectl, "watch", "configmaps", namespace)


@pytest.fixture
def operator(operator_kubeconfig: Path, namespace: str,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(operator_kubeconfig, namespace, tmp_path)
    process.start()
    yield process
    process.close()


def test_operator_under_its_service_account_creates_and_deletes_a_local_cluster(
    admin: Client, namespace: str, operator: OperatorProcess,
) -> None:
    admin.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": "rbac"},
        "spec": {"provider": "local", "version": "v1.37.2",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=namespace)
    obj = wait_phase(admin, namespace, "rbac", "Active", operator, timeout=120)
    assert "platform.example.com/finalizer" in obj["metadata"]["finalizers"]
    # Both copies of the member credential, written under the operator's identity.
    assert admin.get(Secret, "rbac-kubeconfig", namespace=namespace).data
    platform_copy = platform_secret_name(obj["metadata"]["uid"])
    assert admin.get(Secret, platform_copy, namespace=SYSTEM).data
    # Only Events about this HybridCluster count: any other source (the namespace's own
    # controllers) would make a bare "there are Events" true without the operator's write.
    assert eventually(lambda: [e for e in admin.list(Event, namespace=namespace)
                               if (e.involvedObject.kind, e.involvedObject.name)
                               == ("HybridCluster", "rbac")], timeout=30,
                      message="the operator posted no Events about the cluster")
    admin.delete(HybridClusterResource, "rbac", namespace=namespace)
    wait_gone(admin, namespace, "rbac", operator, timeout=120)
    with pytest.raises(ApiError) as gone:  # no ownerReference reaches across namespaces
        admin.get(Secret, platform_copy, namespace=SYSTEM)
    assert gone.value.status.code == 404
    log = operator.log.read_text(errors="replace")
    assert not [line for line in log.splitlines() if any(d in line for d in DENIED)], \
        operator.tail(60)


# -- the API --------------------------------------------------------------------------------------

API_ALLOWED = [
    "create tokenreviews.authentication.k8s.io *",
    "create subjectaccessreviews.authorization.k8s.io *",
    "list hybridclusters.platform.example.com *", "watch hybridclusters.platform.example.com *",
    "create hybridclusters.platform.example.com", "patch hybridclusters.platform.example.com",
    "delete hybridclusters.platform.example.com",
    "list multiclusterapplications.platform.example.com *",
    "create multiclusterapplications.platform.example.com",
    "delete multiclusterapplications.platform.example.com",
    "create serviceaccounts/token",
    "list tenantpolicies.platform.example.com *", "watch tenantpolicies.platform.example.com *",
    "list namespaces *", "watch namespaces *",
    # Security API (issue 16): its resource, and dry-run creates of compiled admission policies
    "list securitypolicies.platform.example.com *", "create securitypolicies.platform.example.com",
    "patch securitypolicies.platform.example.com", "delete securitypolicies.platform.example.com",
    "create validatingadmissionpolicies.admissionregistration.k8s.io *",
]
API_DENIED = [
    "get secrets", "list secrets", "watch secrets", "create secrets", "delete secrets",
    "patch hybridclusters.platform.example.com/status",
    "create serviceaccounts", "get configmaps", "create pods",
    "create clusterrolebindings.rbac.authorization.k8s.io *",
    "delete customresourcedefinitions.apiextensions.k8s.io *",
    "create tenantpolicies.platform.example.com *",
    "patch securitypolicies.platform.example.com/status",
    "delete validatingadmissionpolicies.admissionregistration.k8s.io *",
    "patch validatingadmissionpolicies.admissionregistration.k8s.io *",
    "create validatingadmissionpolicybindings.admissionregistration.k8s.io *",
]


@pytest.fixture(scope="module")
def api_kubeconfig(cluster: ControlPlane, admin: Client,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    return token_kubeconfig(cluster, admin, SYSTEM, "hybridcloud-api",
                            tmp_path_factory.mktemp("api-sa") / "kubeconfig")


def test_api_account_has_what_the_api_needs_and_nothing_more(
    api_kubeconfig: Path, bin_dir: Path, namespace: str,
) -> None:
    kubectl = kubectl_as(bin_dir, api_kubeconfig)
    assert_permissions(kubectl, namespace, API_ALLOWED, API_DENIED)
    # OAuth client registrations: listed and watched in their own namespace only; member
    # credentials (the operator's copies) are read there too, never in tenant namespaces.
    assert can(kubectl, "list", "secrets", SYSTEM) and can(kubectl, "watch", "secrets", SYSTEM)
    assert can(kubectl, "get", "secrets", SYSTEM)
    # The Git push record (issue 19): rewritten by name in the platform namespace, no other
    # ConfigMap there and none anywhere else.
    assert can_named(kubectl, "update", f"configmaps/{RECORD_NAME}", SYSTEM)
    assert can_named(kubectl, "get", f"configmaps/{RECORD_NAME}", SYSTEM)
    assert not can_named(kubectl, "update", "configmaps/logship-cursor", SYSTEM)
    assert not can(kubectl, "list", "configmaps", SYSTEM)
    assert not can(kubectl, "create", "configmaps", namespace)


@pytest.fixture
def api_url(api_kubeconfig: Path, tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "api.log"
    hooks = secrets_dir(tmp_path / "hook-secrets")
    with api_process(log, lambda _: {"HYBRIDCLOUD_API_KUBECONFIG": str(api_kubeconfig),
                                     "HYBRIDCLOUD_API_OAUTH_NAMESPACE": SYSTEM,
                                     "HYBRIDCLOUD_API_GIT_HOOK_SECRETS_DIR": str(hooks)},
                     log_level=None) as (url, _):
        yield url
    text = log.read_text(errors="replace")
    assert not [line for line in text.splitlines() if any(d in line for d in DENIED)], text


def grant(admin: Client, namespace: str, role: str, subject: Subject) -> None:
    admin.create(RoleBinding(
        metadata=ObjectMeta(name=f"{role}-{uuid.uuid4().hex[:4]}", namespace=namespace),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
        subjects=[subject]))


def caller_token(admin: Client, namespace: str, name: str, role: str | None) -> str:
    admin.create(ServiceAccount(metadata=ObjectMeta(name=name, namespace=namespace)))
    if role:
        grant(admin, namespace, role, Subject(kind="ServiceAccount", name=name,
                                              namespace=namespace))
    return request_token(admin, namespace, name)


def test_api_under_its_service_account_authenticates_and_authorizes_callers(
    admin: Client, namespace: str, api_url: str,
) -> None:
    admin.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": "listed"},
        "spec": {"provider": "local", "version": "v1.37.2",
                 "nodeGroups": [{"name": "w", "size": 1}]}}),
        namespace=namespace)
    viewer = caller_token(admin, namespace, "viewer", "hybridcloud-hybridcluster-viewer")
    nobody = caller_token(admin, namespace, "nobody", None)

    def names(token: str) -> Any:
        answer = httpx.get(f"{api_url}/v1/clusters", params={"namespace": namespace},
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        return answer.status_code, [c["name"] for c in answer.json().get("clusters", [])]

    assert eventually(lambda: names(viewer) == (200, ["listed"]) or None, timeout=15,
                      message=lambda: f"viewer got {names(viewer)}")
    assert names(nobody)[0] == 403
    assert names("not-a-token")[0] == 401


def test_api_under_its_service_account_records_a_git_push_for_the_operator(
    admin: Client, namespace: str, api_url: str,
) -> None:
    repository = f"https://git.example.com/rbac/{uuid.uuid4().hex[:8]}.git"
    create_application(admin, namespace, "tracks-push", repository, "main", placement=["dev"])

    def record() -> list[RecordedPush]:
        return pushes_since(admin, [], repository)

    def pushed_after(before: int) -> int | None:  # the API's cache may not hold the app yet
        body = push_payload("github", repository)  # new each time: a repeat is a replay
        answer = httpx.post(f"{api_url}/v1/hooks/git", content=body, timeout=10,
                            headers=signed_headers("github", body))
        assert answer.status_code == 202, answer.text
        return len(record()) if len(record()) > before else None

    # The first push creates the record, the second rewrites it.
    first = eventually(lambda: pushed_after(0), timeout=15, message="no push was recorded")
    eventually(lambda: pushed_after(first), timeout=15, message="the second push was lost")


# -- users ----------------------------------------------------------------------------------------

def user_kubectl(cluster: ControlPlane, bin_dir: Path, user: str) -> Kubectl:
    return kubectl_as(bin_dir, cluster.user_kubeconfig(user, ["qa"]))


def sample(kind: str, name: str) -> str:
    if kind == "HybridCluster":
        spec: dict[str, Any] = {"provider": "local", "version": "v1.37.2",
                                "nodeGroups": [{"name": "w", "size": 1}]}
    else:
        spec = {"source": {"repository": "https://git.example.com/a.git", "path": "deploy"},
                "placement": [{"cluster": "dev"}]}
    return json.dumps({"apiVersion": "platform.example.com/v1", "kind": kind,
                       "metadata": {"name": name}, "spec": spec})


@pytest.mark.parametrize(("role", "writes"), [
    ("hybridcloud-{kind}-viewer", False), ("view", False),
    ("hybridcloud-{kind}-editor", True), ("edit", True),
])
def test_users_read_through_viewer_roles_and_write_only_through_editor_roles(
    admin: Client, cluster: ControlPlane, bin_dir: Path, namespace: str, role: str,
    writes: bool,
) -> None:
    user = f"user-{uuid.uuid4().hex[:6]}"
    for kind in ("hybridcluster", "multiclusterapplication"):
        grant(admin, namespace, role.format(kind=kind), Subject(
            kind="User", name=user, apiGroup="rbac.authorization.k8s.io"))
    admin_kubectl = kubectl_as(bin_dir, cluster.kubeconfig)
    for kind in ("HybridCluster", "MultiClusterApplication"):
        created = admin_kubectl("create", "-n", namespace, "-f", "-",
                                stdin=sample(kind, "existing"))
        assert created.returncode == 0, created.stderr
    kubectl = user_kubectl(cluster, bin_dir, user)

    def reads() -> bool:  # RoleBindings and role aggregation take effect asynchronously
        answer = kubectl("get", "hybridclusters,multiclusterapplications", "-n", namespace,
                         "-o", "name")
        return answer.returncode == 0 and len(answer.stdout.split()) == 2
    eventually(reads, timeout=30, message=f"{role} cannot read")

    for kind in ("HybridCluster", "MultiClusterApplication"):
        plural = f"{kind.lower()}s"
        attempts = [kubectl("create", "-n", namespace, "-f", "-", stdin=sample(kind, "new")),
                    kubectl("annotate", "-n", namespace, plural, "existing", "a=b"),
                    kubectl("delete", "-n", namespace, plural, "existing", "--wait=false")]
        for attempt in attempts:
            if writes:
                assert attempt.returncode == 0, attempt.stderr
            else:
                assert attempt.returncode != 0 and "forbidden" in attempt.stderr, attempt.stdout
    # No role for users reaches the Secrets (kubeconfigs, credentials) through these roles.
    if role.startswith("hybridcloud-"):
        assert not can(kubectl, "get", "secrets", namespace)
