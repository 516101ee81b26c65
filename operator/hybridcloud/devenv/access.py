"""The development identity of ``make run`` and the benchmarks: a ServiceAccount that may do
anything with the platform's kinds in one namespace. Development only: nothing the operator or
the API runs imports this module (an import-linter contract says so), and the chart never
grants such a role.
"""

from __future__ import annotations

from pathlib import Path

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, RoleBinding

from .. import GROUP
from ..kube.bootstrap import client_for, request_token


def mint_dev_token(kubeconfig: Path, namespace: str, account: str,
                   expiration_seconds: int = 86400) -> str:
    """A ServiceAccount allowed to manage the platform's resources in ``namespace``, and a
    TokenRequest token for it."""
    client = client_for(kubeconfig)
    client.apply(ServiceAccount(metadata=ObjectMeta(name=account, namespace=namespace)))
    role = f"{account}-platform"
    client.apply(ClusterRole(
        metadata=ObjectMeta(name=role),
        rules=[PolicyRule(apiGroups=[GROUP], resources=["*"], verbs=["*"]),
               PolicyRule(apiGroups=[""], resources=["secrets"], verbs=["get", "list"])]))
    client.apply(RoleBinding(
        metadata=ObjectMeta(name=role, namespace=namespace),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
        subjects=[Subject(kind="ServiceAccount", name=account, namespace=namespace)]))
    return request_token(client, namespace, account, expiration_seconds)
