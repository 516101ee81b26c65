"""SecurityPolicy spec → ``ValidatingAdmissionPolicy`` + ``ValidatingAdmissionPolicyBinding``.

Pure: no I/O. The member's own kube-apiserver enforces the result; nothing of ours sits in the
admission path. Each catalogue rule becomes one or more CEL validations whose
``messageExpression`` names the rule, the offending container(s) and the field, so whoever is
refused knows what to change.

The pod spec is reached through variables, so ``kinds: [Pod]`` also covers the pod templates of
Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs with the same expressions.
The object names on members are derived from the tenant namespace and the policy name
(:func:`member_object_name`): two tenants can never produce the same name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import GROUP
from ..models.securitypolicy import (
    Enforcement,
    PolicyRules,
    ResourceFlags,
    SecurityPolicySpec,
    TargetKind,
)
from . import rule_messages as say
from .rule_messages import Wording

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "hybridcloud"
POLICY_NAMESPACE_LABEL = f"{GROUP}/policy-namespace"
POLICY_NAME_LABEL = f"{GROUP}/policy-name"
POLICY_UID_ANNOTATION = f"{GROUP}/policy-uid"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ADMISSION_API = "admissionregistration.k8s.io/v1"

_ACTIONS = {Enforcement.DENY: "Deny", Enforcement.WARN: "Warn", Enforcement.AUDIT: "Audit"}
# Kind → (API group, version, resource) of what a target kind matches.
_RESOURCES: dict[TargetKind, tuple[str, str]] = {
    TargetKind.POD: ("", "pods"),
    TargetKind.DEPLOYMENT: ("apps", "deployments"),
    TargetKind.STATEFUL_SET: ("apps", "statefulsets"),
    TargetKind.DAEMON_SET: ("apps", "daemonsets"),
    TargetKind.REPLICA_SET: ("apps", "replicasets"),
    TargetKind.JOB: ("batch", "jobs"),
    TargetKind.CRON_JOB: ("batch", "cronjobs"),
}
_VERSIONS = {"": "v1", "apps": "v1", "batch": "v1"}
_REPLICATED = ("Deployment", "StatefulSet", "ReplicaSet")

# Where the pod spec / pod metadata sits in each kind (Pods directly, CronJobs two templates
# deep, every other workload in spec.template).
_POD_SPEC = ("object.kind == 'Pod' ? object.spec : object.kind == 'CronJob' ? "
             "object.spec.jobTemplate.spec.template.spec : object.spec.template.spec")
_POD_META = ("object.kind == 'Pod' ? object.metadata : object.kind == 'CronJob' ? "
             "(has(object.spec.jobTemplate.spec.template.metadata) ? "
             "object.spec.jobTemplate.spec.template.metadata : {}) : "
             "(has(object.spec.template.metadata) ? object.spec.template.metadata : {})")
VARIABLES = [
    {"name": "podSpec", "expression": _POD_SPEC},
    {"name": "podMeta", "expression": _POD_META},
    {"name": "podLabels", "expression": "has(variables.podMeta.labels) ? "
     "variables.podMeta.labels : {}"},
    {"name": "containers", "expression": "variables.podSpec.containers + "
     "(has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"},
]


def cel_string(text: str) -> str:
    """``text`` as a CEL string literal (escaped: tenant values never become CEL syntax)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(cel_string(v) for v in values) + "]"


def member_object_name(namespace: str, policy: str) -> str:
    """Name of the admission policy and binding on members: ``hybridcloud.<namespace>.<name>``.

    Namespace and policy names are DNS labels (no dots), so the dots keep the mapping
    one-to-one: no two (tenant, policy) pairs share a name, whatever they are called."""
    return f"hybridcloud.{namespace}.{policy}"


@dataclass(frozen=True)
class Validation:
    """One CEL check with the message naming what to fix."""

    expression: str
    message_expression: str
    rule: str

    def to_kube(self) -> dict[str, str]:
        return {"expression": self.expression, "messageExpression": self.message_expression,
                "reason": "Forbidden", "message": f"{self.rule}: the object violates this rule"}


def _message(wording: Wording, names: str) -> str:
    """CEL building ``wording`` around ``names`` (a CEL list of strings)."""
    return f"{cel_string(wording.before)} + {names}.join(', ') + {cel_string(wording.after)}"


def _per_container(rule: str, ok: str, field: str) -> Validation:
    """Every container satisfies ``ok`` (over ``c``); the message lists those that do not."""
    offenders = f"variables.containers.filter(c, !({ok})).map(c, c.name)"
    return Validation(
        expression=f"variables.containers.all(c, {ok})",
        message_expression=_message(say.container_must_set(rule, field), offenders),
        rule=rule)


def _resources(rule: str, section: str, flags: ResourceFlags) -> list[Validation]:
    wanted = [name for name, on in (("cpu", flags.cpu), ("memory", flags.memory)) if on]
    return [_per_container(
        rule, f"has(c.resources) && has(c.resources.{section}) && "
        f"{cel_string(name)} in c.resources.{section}", say.resource_field(section, name))
        for name in wanted]


_RUN_AS_NON_ROOT = (
    "has(c.securityContext) && has(c.securityContext.runAsNonRoot) ? "
    "c.securityContext.runAsNonRoot : has(variables.podSpec.securityContext) && "
    "has(variables.podSpec.securityContext.runAsNonRoot) && "
    "variables.podSpec.securityContext.runAsNonRoot")


def _security_context() -> list[Validation]:
    rule = "require_security_context"
    return [
        _per_container(rule, _RUN_AS_NON_ROOT, say.RUN_AS_NON_ROOT),
        _per_container(rule, "has(c.securityContext) && "
                       "has(c.securityContext.allowPrivilegeEscalation) && "
                       "!c.securityContext.allowPrivilegeEscalation",
                       say.NO_PRIVILEGE_ESCALATION),
        _per_container(rule, "has(c.securityContext) && has(c.securityContext.capabilities) && "
                       "has(c.securityContext.capabilities.drop) && "
                       "'ALL' in c.securityContext.capabilities.drop", say.DROP_ALL),
    ]


def _pod_flag(rule: str, field: str) -> Validation:
    return Validation(
        expression=f"!(has(variables.podSpec.{field}) && variables.podSpec.{field})",
        message_expression=cel_string(say.pod_must_not_set(rule, field)), rule=rule)


def _host_path() -> Validation:
    rule = "disallow_host_path"
    volumes = "(has(variables.podSpec.volumes) ? variables.podSpec.volumes : [])"
    return Validation(
        expression=f"{volumes}.all(v, !has(v.hostPath))",
        message_expression=_message(
            say.HOST_PATH, f"{volumes}.filter(v, has(v.hostPath)).map(v, v.name)"),
        rule=rule)


def _registries(registries: list[str]) -> Validation:
    rule = "allowed_registries"
    ok = f"{cel_list(registries)}.exists(r, c.image.startsWith(r + '/'))"
    offenders = f"variables.containers.filter(c, !({ok}))"
    return Validation(
        expression=f"variables.containers.all(c, {ok})",
        # Each offender reads as say.registry_offender does.
        message_expression=_message(say.allowed_registries(registries),
                                    f"{offenders}.map(c, c.name + ' (image ' + c.image + ')')"),
        rule=rule)


# A tag is the part after ':' in the image's last path segment; a digest pins it as well.
_PINNED = ("c.image.contains('@') || (c.image.substring(c.image.lastIndexOf('/') + 1)"
           ".contains(':') && !c.image.endsWith(':latest'))")


def _labels(keys: list[str]) -> Validation:
    rule = "require_labels"
    missing = f"{cel_list(keys)}.filter(k, !(k in variables.podLabels))"
    return Validation(
        expression=f"{cel_list(keys)}.all(k, k in variables.podLabels)",
        message_expression=_message(say.REQUIRED_LABELS, missing),
        rule=rule)


def _max_replicas(limit: int) -> Validation:
    rule = "max_replicas"
    wording = say.max_replicas(limit)
    return Validation(
        expression=(f"!(object.kind in {cel_list(_REPLICATED)}) || !has(object.spec.replicas) "
                    f"|| object.spec.replicas <= {limit}"),
        message_expression=(f"{cel_string(wording.before)} + string(object.spec.replicas) + "
                            f"{cel_string(wording.after)}"),
        rule=rule)


def validations(rules: PolicyRules) -> list[Validation]:
    """Every CEL validation the rules ask for, in catalogue order."""
    out: list[Validation] = []
    if rules.require_resource_limits is not None:
        out += _resources("require_resource_limits", "limits", rules.require_resource_limits)
    if rules.require_resource_requests is not None:
        out += _resources("require_resource_requests", "requests",
                          rules.require_resource_requests)
    if rules.require_security_context:
        out += _security_context()
    if rules.disallow_privileged:
        out.append(_per_container(
            "disallow_privileged", "!(has(c.securityContext) && "
            "has(c.securityContext.privileged) && c.securityContext.privileged)",
            say.NOT_PRIVILEGED))
    if rules.disallow_host_namespaces:
        out += [_pod_flag("disallow_host_namespaces", field)
                for field in say.HOST_NAMESPACE_FIELDS]
    if rules.disallow_host_path:
        out.append(_host_path())
    if rules.allowed_registries:
        out.append(_registries(rules.allowed_registries))
    if rules.disallow_latest_tag:
        out.append(_per_container("disallow_latest_tag", _PINNED, say.PINNED_IMAGE))
    if rules.require_labels:
        out.append(_labels(rules.require_labels))
    if rules.max_replicas is not None:
        out.append(_max_replicas(rules.max_replicas))
    for index, raw in enumerate(rules.cel or []):
        label = f"cel[{index}]"
        message = raw.message or f"{label}: {raw.expression}"
        out.append(Validation(raw.expression, cel_string(f"{label}: {message}"), label))
    return out


def resource_rules(kinds: Iterable[TargetKind]) -> list[dict[str, Any]]:
    """matchConstraints.resourceRules: Pod also stands for every kind with a pod template."""
    chosen = set(kinds)
    if TargetKind.POD in chosen:
        chosen = set(TargetKind)
    by_group: dict[str, list[str]] = {}
    for kind in TargetKind:  # declaration order: stable output
        if kind in chosen:
            group, resource = _RESOURCES[kind]
            by_group.setdefault(group, []).append(resource)
    return [{"apiGroups": [group], "apiVersions": [_VERSIONS[group]],
             "resources": resources, "operations": ["CREATE", "UPDATE"]}
            for group, resources in by_group.items()]


def namespace_selector(namespaces: Iterable[str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In",
                                  "values": sorted(set(namespaces))}]}


def _metadata(name: str, namespace: str, policy: str, uid: str) -> dict[str, Any]:
    return {"name": name,
            "labels": {MANAGED_BY: MANAGED_BY_VALUE, POLICY_NAMESPACE_LABEL: namespace,
                       POLICY_NAME_LABEL: policy},
            "annotations": {POLICY_UID_ANNOTATION: uid}}


@dataclass(frozen=True)
class Compiled:
    policy: dict[str, Any]
    binding: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.policy["metadata"]["name"])


def compile_policy(namespace: str, name: str, uid: str, spec: SecurityPolicySpec) -> Compiled:
    """The admission policy and binding for SecurityPolicy ``namespace/name`` (uid ``uid``)."""
    object_name = member_object_name(namespace, name)
    selector = namespace_selector(spec.targets.namespaces)
    policy = {
        "apiVersion": ADMISSION_API, "kind": "ValidatingAdmissionPolicy",
        "metadata": _metadata(object_name, namespace, name, uid),
        "spec": {
            # An expression that cannot be evaluated refuses rather than lets through.
            "failurePolicy": "Fail",
            "matchConstraints": {"namespaceSelector": selector,
                                 "resourceRules": resource_rules(spec.targets.kinds)},
            "variables": [dict(v) for v in VARIABLES],
            "validations": [v.to_kube() for v in validations(spec.rules)],
        },
    }
    binding = {
        "apiVersion": ADMISSION_API, "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": _metadata(object_name, namespace, name, uid),
        "spec": {"policyName": object_name,
                 "validationActions": [_ACTIONS[Enforcement(spec.enforcement)]],
                 "matchResources": {"namespaceSelector": selector}},
    }
    return Compiled(policy, binding)


def owned_by(obj: dict[str, Any], namespace: str, policy: str) -> bool:
    """Whether a member object was written for SecurityPolicy ``namespace/policy`` (never adopt
    or delete anything else, even under the derived name)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return (labels.get(MANAGED_BY) == MANAGED_BY_VALUE
            and labels.get(POLICY_NAMESPACE_LABEL) == namespace
            and labels.get(POLICY_NAME_LABEL) == policy)
