"""What a cluster scan reads from workload objects (pure): their images, Pod Security Standards
findings, and the literal values that may hold secrets.

Misconfigurations are checked here in Python over the pod spec rather than by Trivy's ``config``
scanner: Trivy's checks come from a bundle it downloads (not possible offline without shipping
it), while the Pod Security Standards are a short, stable list that is easy to test
exhaustively. The checks are the Baseline profile plus the Restricted additions, with the ids
the Kubernetes documentation uses for each control.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                  "CronJob")
# Capabilities the Baseline profile allows a container to add.
_BASELINE_CAPS = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                            "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP",
                            "SETUID", "SYS_CHROOT"})
_MAX_TEXT = 64 * 1024


@dataclass(frozen=True)
class Misconfiguration:
    check_id: str
    severity: str
    title: str
    target: str
    """``Kind/name`` and, for a container check, ``container <name>``."""
    message: str
    policy: str | None = None
    """The SecurityPolicy whose rule this is (None: a Pod Security Standards check)."""


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a Pod or of a workload's pod template (CronJob: its job's)."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if kind in WORKLOAD_KINDS:
        return ((spec.get("template") or {}).get("spec")) or {}
    return None


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for group in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(group) or []


def images(obj: Mapping[str, Any]) -> list[str]:
    spec = pod_spec(obj)
    if spec is None:
        return []
    return sorted({str(c["image"]) for c in _containers(spec) if c.get("image")})


def _name(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name', '')}"


def check(obj: Mapping[str, Any]) -> list[Misconfiguration]:
    """Pod Security Standards findings for one workload object."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    where = _name(obj)
    found: list[Misconfiguration] = []

    def add(check_id: str, severity: str, title: str, target: str, message: str) -> None:
        found.append(Misconfiguration(check_id, severity, title, target, message))

    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            add("host-namespaces", "HIGH", "Host namespaces", where,
                f"spec.{flag} is true: the pod shares the node's namespace")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            add("host-path-volumes", "MEDIUM", "HostPath volumes", where,
                f"volume {volume.get('name')} mounts a path of the node")
    pod_context = spec.get("securityContext") or {}
    for container in _containers(spec):
        target = f"{where} container {container.get('name', '')}"
        context = container.get("securityContext") or {}
        caps = context.get("capabilities") or {}
        if context.get("privileged"):
            add("privileged-containers", "HIGH", "Privileged containers", target,
                "securityContext.privileged is true: the container has full access to the node")
        added = sorted(set(caps.get("add") or []) - _BASELINE_CAPS)
        if added:
            add("capabilities", "MEDIUM", "Capabilities", target,
                f"adds capabilities beyond the baseline set: {', '.join(added)}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            add("host-ports", "MEDIUM", "Host ports", target, "a container port binds a "
                "host port")
        if context.get("allowPrivilegeEscalation") is not False:
            add("privilege-escalation", "MEDIUM", "Privilege escalation", target,
                "securityContext.allowPrivilegeEscalation is not false")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot", False)):
            add("running-as-non-root", "MEDIUM", "Running as non-root", target,
                "runAsNonRoot is not true (container or pod securityContext)")
        if "ALL" not in (caps.get("drop") or []):
            add("capabilities-drop-all", "LOW", "Capabilities (drop ALL)", target,
                "securityContext.capabilities.drop does not include ALL")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {})
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            add("seccomp", "LOW", "Seccomp", target,
                "no RuntimeDefault or Localhost seccompProfile")
    return found


def literal_texts(obj: Mapping[str, Any]) -> dict[str, str]:
    """Values written into the manifest itself that a secret scanner should read: container env
    values and ConfigMap data, labelled by where they are (never Secrets: those are meant to
    hold secrets)."""
    where = _name(obj)
    texts: dict[str, str] = {}
    if obj.get("kind") == "ConfigMap":
        for key, value in sorted((obj.get("data") or {}).items()):
            texts[f"{where} data {key}"] = str(value)[:_MAX_TEXT]
        return texts
    spec = pod_spec(obj)
    if spec is None:
        return texts
    for container in _containers(spec):
        lines = [f"{env['name']}={env['value']}" for env in container.get("env") or []
                 if isinstance(env.get("value"), str) and env.get("name")]
        if lines:
            texts[f"{where} container {container.get('name', '')} env"] = (
                "\n".join(lines) + "\n")[:_MAX_TEXT]
    return texts
