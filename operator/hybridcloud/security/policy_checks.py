"""A tenant's SecurityPolicy rules evaluated over the workloads a cluster scan read (pure).

Admission (:mod:`.compiler`) only judges objects when they are written; a scan also finds what
was running before a policy existed, or what an ``audit``/``warn`` policy let through. Each
catalogue rule is evaluated here in Python with the same semantics as its CEL (same container
list, same tag and registry tests, same kinds) and reported with the same sentence
(:mod:`.rule_messages`). Raw ``cel`` rules are not evaluated: there is no CEL interpreter here,
so a scan does not report them.

A policy applies as it would at admission: enabled, valid, its target namespaces ones the tenant
may police (:func:`.decisions.namespace_refusals`, else its controller stalls it), its targets
selecting the scanned cluster (:func:`.decisions.target_clusters`), its ``namespaces`` holding
the workload's and its ``kinds`` the workload's kind (Pod standing for every kind with a pod
template).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..models.securitypolicy import PolicyRules, ResourceFlags, SecurityPolicySpec, TargetKind
from ..reconcile import tenancy
from ..reconcile.placement import ClusterFacts
from . import decisions
from . import rule_messages as say
from .workload_checks import Misconfiguration, pod_spec

# Rule → (severity, title) in the report; severities on the Pod Security Standards' scale.
_RULES: dict[str, tuple[str, str]] = {
    "require_resource_limits": ("LOW", "Resource limits required"),
    "require_resource_requests": ("LOW", "Resource requests required"),
    "require_security_context": ("MEDIUM", "Restricted security context required"),
    "disallow_privileged": ("HIGH", "Privileged containers disallowed"),
    "disallow_host_namespaces": ("HIGH", "Host namespaces disallowed"),
    "disallow_host_path": ("MEDIUM", "HostPath volumes disallowed"),
    "allowed_registries": ("MEDIUM", "Images from allowed registries only"),
    "disallow_latest_tag": ("LOW", "Latest image tag disallowed"),
    "require_labels": ("LOW", "Required pod labels"),
    "max_replicas": ("LOW", "Replica limit"),
}
_REPLICATED = ("Deployment", "StatefulSet", "ReplicaSet")
Container = Mapping[str, Any]
Requirement = Callable[[Container], bool]


@dataclass(frozen=True)
class PolicyInForce:
    name: str
    spec: SecurityPolicySpec


@dataclass(frozen=True)
class Violation:
    rule: str
    container: str | None  # None: the pod or the workload as a whole
    message: str


def in_force(policies: Iterable[Mapping[str, Any]], cluster: ClusterFacts,
             governing: tenancy.Governing) -> list[PolicyInForce]:
    """The namespace's SecurityPolicy objects that apply to ``cluster``, by name."""
    found: list[PolicyInForce] = []
    for body in policies:
        meta = body.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        try:
            spec = SecurityPolicySpec.model_validate(body.get("spec") or {})
        except ValidationError:
            continue  # its controller stalls it: enforced nowhere
        if not spec.enabled or decisions.namespace_refusals(governing, spec.targets.namespaces):
            continue
        chosen = decisions.target_clusters(spec.targets, {cluster.name: cluster})
        # A targeted cluster is ready or waiting (not ready yet); either way it is targeted.
        if cluster.name in chosen.ready or cluster.name in chosen.waiting:
            found.append(PolicyInForce(str(meta.get("name", "")), spec))
    return sorted(found, key=lambda p: p.name)


def check(obj: Mapping[str, Any], policies: Sequence[PolicyInForce]) -> list[Misconfiguration]:
    """Findings of every applicable policy for one workload object (Pod or workload kind)."""
    if pod_spec(obj) is None:
        return []
    kind = str(obj.get("kind"))
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace", ""))
    where = f"{kind}/{namespace}/{meta.get('name', '')}"
    found: list[Misconfiguration] = []
    for policy in policies:
        targets = policy.spec.targets
        if namespace not in targets.namespaces or not _kind_targeted(targets.kinds, kind):
            continue
        for violation in violations(obj, policy.spec.rules):
            severity, title = _RULES[violation.rule]
            target = where if violation.container is None else (
                f"{where} container {violation.container}")
            found.append(Misconfiguration(violation.rule, severity, title, target,
                                          violation.message, policy=policy.name))
    return found


def _kind_targeted(kinds: Iterable[TargetKind], kind: str) -> bool:
    chosen = {str(k) for k in kinds}
    return str(TargetKind.POD) in chosen or kind in chosen


def violations(obj: Mapping[str, Any], rules: PolicyRules) -> list[Violation]:
    """What ``obj`` breaks of ``rules``, in catalogue order (raw CEL rules are skipped)."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    out: list[Violation] = []
    for rule, section, flags in (("require_resource_limits", "limits",
                                  rules.require_resource_limits),
                                 ("require_resource_requests", "requests",
                                  rules.require_resource_requests)):
        if flags is not None:
            out += _missing_resources(rule, section, flags, containers)
    if rules.require_security_context:
        out += _per_container("require_security_context", containers, (
            (say.RUN_AS_NON_ROOT, lambda c: _runs_as_non_root(c, spec)),
            (say.NO_PRIVILEGE_ESCALATION,
             lambda c: _context(c).get("allowPrivilegeEscalation") is False),
            (say.DROP_ALL, lambda c: "ALL" in ((_context(c).get("capabilities") or {})
                                               .get("drop") or []))))
    if rules.disallow_privileged:
        out += _per_container("disallow_privileged", containers, (
            (say.NOT_PRIVILEGED, lambda c: not _context(c).get("privileged")),))
    if rules.disallow_host_namespaces:
        out += [Violation("disallow_host_namespaces", None,
                          say.pod_must_not_set("disallow_host_namespaces", field))
                for field in say.HOST_NAMESPACE_FIELDS if spec.get(field)]
    if rules.disallow_host_path:
        mounted = [str(v.get("name", "")) for v in spec.get("volumes") or []
                   if v.get("hostPath") is not None]
        if mounted:
            out.append(Violation("disallow_host_path", None, say.HOST_PATH.text(mounted)))
    if rules.allowed_registries:
        out += _foreign_registries(rules.allowed_registries, containers)
    if rules.disallow_latest_tag:
        out += _per_container("disallow_latest_tag", containers, (
            (say.PINNED_IMAGE, lambda c: _pinned(str(c.get("image") or ""))),))
    if rules.require_labels:
        labels = _pod_labels(obj)
        missing = [key for key in rules.require_labels if key not in labels]
        if missing:
            out.append(Violation("require_labels", None, say.REQUIRED_LABELS.text(missing)))
    if rules.max_replicas is not None:
        replicas = (obj.get("spec") or {}).get("replicas")
        if obj.get("kind") in _REPLICATED and replicas is not None and (
                int(replicas) > rules.max_replicas):
            out.append(Violation("max_replicas", None,
                                 say.max_replicas(rules.max_replicas).text([str(replicas)])))
    return out


def _per_container(rule: str, containers: Sequence[Container],
                   requirements: Iterable[tuple[str, Requirement]]) -> Iterator[Violation]:
    """One violation per (requirement, container failing it): ``requirements`` are (field
    named in the message, predicate over a container)."""
    for field, ok in requirements:
        for container in containers:
            if not ok(container):
                name = str(container.get("name", ""))
                yield Violation(rule, name, say.container_must_set(rule, field).text([name]))


def _missing_resources(rule: str, section: str, flags: ResourceFlags,
                       containers: Sequence[Container]) -> list[Violation]:
    wanted = [name for name, on in (("cpu", flags.cpu), ("memory", flags.memory)) if on]
    return list(_per_container(rule, containers, [
        (say.resource_field(section, name), _sets_resource(section, name)) for name in wanted]))


def _sets_resource(section: str, resource: str) -> Requirement:
    return lambda c: resource in (((c.get("resources") or {}).get(section)) or {})


def _context(container: Container) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def _runs_as_non_root(container: Container, spec: Mapping[str, Any]) -> bool:
    """The container's runAsNonRoot when it sets one, else the pod's (as the CEL reads it)."""
    own = _context(container).get("runAsNonRoot")
    if own is not None:
        return bool(own)
    return bool((spec.get("securityContext") or {}).get("runAsNonRoot"))


def _pinned(image: str) -> bool:
    """A digest, or a tag in the last path segment that is not latest (no tag means latest)."""
    last = image[image.rfind("/") + 1:]
    return "@" in image or (":" in last and not image.endswith(":latest"))


def _foreign_registries(registries: Sequence[str],
                        containers: Sequence[Container]) -> list[Violation]:
    wording = say.allowed_registries(registries)
    out = []
    for container in containers:
        image = str(container.get("image") or "")
        if not any(image.startswith(registry + "/") for registry in registries):
            name = str(container.get("name", ""))
            out.append(Violation("allowed_registries", name,
                                 wording.text([say.registry_offender(name, image)])))
    return out


def _pod_labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The labels of a Pod, or of a workload's pod template (CronJob: its job's)."""
    if obj.get("kind") == "Pod":
        return (obj.get("metadata") or {}).get("labels") or {}
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (((spec.get("template") or {}).get("metadata") or {}).get("labels")) or {}
