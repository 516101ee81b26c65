"""The wording of each SecurityPolicy rule's violation message (pure).

Two places say what a workload does wrong and must say it the same way: the admission compiler
(:mod:`.compiler`, whose CEL ``messageExpression`` joins the offending names at admission time)
and a cluster scan's policy checks (:mod:`.policy_checks`, which find the names in Python). Both
take the fixed text around the names from here, so a tenant reads the same sentence whether the
member's kube-apiserver refused the object or a scan reported it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Container fields the security-context and other per-container rules ask for.
RUN_AS_NON_ROOT = "securityContext.runAsNonRoot: true (or the pod's)"
NO_PRIVILEGE_ESCALATION = "securityContext.allowPrivilegeEscalation: false"
DROP_ALL = "securityContext.capabilities.drop: [ALL]"
NOT_PRIVILEGED = "securityContext.privileged: false (or leave it unset)"
PINNED_IMAGE = "image with a tag other than latest (or a digest)"
HOST_NAMESPACE_FIELDS = ("hostNetwork", "hostPID", "hostIPC")


@dataclass(frozen=True)
class Wording:
    """A message as the text before and after the offending names (joined by ', ')."""

    before: str
    after: str

    def text(self, names: Iterable[str]) -> str:
        return self.before + ", ".join(names) + self.after


def resource_field(section: str, resource: str) -> str:
    """``resources.limits.cpu`` and the like."""
    return f"resources.{section}.{resource}"


def container_must_set(rule: str, field: str) -> Wording:
    return Wording(f"{rule}: container ", f" must set {field}")


def pod_must_not_set(rule: str, field: str) -> str:
    return f"{rule}: the pod must not set {field}: true"


HOST_PATH = Wording("disallow_host_path: volume ", " must not use hostPath")
REQUIRED_LABELS = Wording("require_labels: the pod (template) must carry label(s) ",
                          " in metadata.labels")


def allowed_registries(registries: Iterable[str]) -> Wording:
    return Wording("allowed_registries: container ",
                   " must pull from one of: " + ", ".join(registries))


def registry_offender(container: str, image: str) -> str:
    """How an offending container is named in the allowed_registries message."""
    return f"{container} (image {image})"


def max_replicas(limit: int) -> Wording:
    return Wording("max_replicas: spec.replicas ", f" exceeds the maximum of {limit}")
