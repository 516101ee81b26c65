"""kwok's Logs/ClusterLogs custom resources, installed on a member before kwok starts.

kwok (``--enable-crds=Logs,ClusterLogs``) watches these on the member's apiserver and serves
the files they name through its kubelet-style API, so ``pods/log`` returns simulated container
logs. kwok does not install its CRDs itself; these definitions name the same group, kinds and
scopes, and leave the schema open (kwok validates what it reads).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from ._errors import ControlPlaneError

GROUP = "kwok.x-k8s.io"
_CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
# kind, plural, scope
_KINDS = (("Logs", "logs", "Namespaced"), ("ClusterLogs", "clusterlogs", "Cluster"))


def crd_manifest(kind: str, plural: str, scope: str) -> dict[str, Any]:
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP, "scope": scope,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                      "singular": plural},
            "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                              "spec": open_object, "status": open_object}}}}]}}


def install_log_crds(client: httpx.Client, timeout: float = 30.0) -> None:
    """Create the CRDs (an existing one is kept) and wait until they are served."""
    names = []
    for kind, plural, scope in _KINDS:
        response = client.post(_CRDS, json=crd_manifest(kind, plural, scope))
        if response.status_code != httpx.codes.CONFLICT and not response.is_success:
            raise ControlPlaneError(f"create CRD {plural}.{GROUP}: HTTP "
                                    f"{response.status_code}: {response.text[:300]}")
        names.append(f"{plural}.{GROUP}")
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            status = client.get(f"{_CRDS}/{name}").json().get("status", {})
            if any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in status.get("conditions") or []):
                break
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRD {name} not established within {timeout:g}s")
            time.sleep(0.05)
