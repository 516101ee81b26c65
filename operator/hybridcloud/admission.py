"""The admission policy that gives every new HybridCluster and MultiClusterApplication our
finalizer at creation time.

A ``MutatingAdmissionPolicy`` (CEL, evaluated by the kube-apiserver itself: no webhook server
to run) adds ``platform.example.com/finalizer`` on CREATE. The object is protected from the
moment it exists, and the operator does not spend a write (and a watch event) adding it. The
operator still adds the finalizer to objects that lack it — clusters without the policy API,
objects created while the policy was not installed — so the policy is an optimisation of a
guarantee the operator keeps by itself, and ``failurePolicy: Ignore`` is safe.

``python -m hybridcloud.admission`` prints the manifests; the chart ships a copy kept equal by
``hack/generate_manifests.py``.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from . import FINALIZER, GROUP, VERSION

POLICY_NAME = "hybridcloud-finalizer"
ADMISSION_API = "admissionregistration.k8s.io/v1"
PLURALS = ("hybridclusters", "multiclusterapplications")

# Append to an existing list (keeping a user's own finalizers), create the list otherwise, and
# leave an object that already carries ours alone.
_PATCH = f"""\
has(object.metadata.finalizers) && object.metadata.finalizers.exists(f, f == "{FINALIZER}")
  ? []
  : has(object.metadata.finalizers)
    ? [JSONPatch{{op: "add", path: "/metadata/finalizers/-", value: "{FINALIZER}"}}]
    : [JSONPatch{{op: "add", path: "/metadata/finalizers", value: ["{FINALIZER}"]}}]
"""


def policy() -> dict[str, Any]:
    return {
        "apiVersion": ADMISSION_API, "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [GROUP], "apiVersions": [VERSION], "operations": ["CREATE"],
                "resources": list(PLURALS)}]},
            # The operator adds the finalizer itself when the policy could not.
            "failurePolicy": "Ignore",
            "reinvocationPolicy": "Never",
            "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": _PATCH}}],
        },
    }


def binding() -> dict[str, Any]:
    return {
        "apiVersion": ADMISSION_API, "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME},
        "spec": {"policyName": POLICY_NAME},
    }


def manifests() -> list[dict[str, Any]]:
    return [policy(), binding()]


def render() -> str:
    return yaml.safe_dump_all(manifests(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
