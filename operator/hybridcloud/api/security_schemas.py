"""REST bodies of the Security API (snake_case, as the contract) ↔ SecurityPolicy specs.

The rule catalogue's REST names are the CRD's in snake_case (``require_resource_limits`` ↔
``requireResourceLimits``). A rule name outside the catalogue is a 400 naming it, never dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..models import PolicyRules, SecurityPolicySpec
from ..models.common import DNS_LABEL
from ..models.securitypolicy import Enforcement, TargetKind
from .errors import APIError, rest_field

RULE_NAMES = {info.alias or name: name for name, info in PolicyRules.model_fields.items()}
"""CRD name → REST name of every catalogue rule."""
CATALOGUE = sorted(RULE_NAMES.values())
_CAMEL = {snake: camel for camel, snake in RULE_NAMES.items()}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SelectorRequirement(_Strict):
    key: str = Field(min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class ClusterSelector(_Strict):
    match_labels: dict[str, str] | None = None
    match_expressions: list[SelectorRequirement] | None = None


class PolicyTargetsBody(_Strict):
    namespaces: list[str] = Field(min_length=1, max_length=100,
                                  description="Member namespaces the policy applies to.")
    kinds: list[TargetKind] = Field(default_factory=lambda: [TargetKind.POD], min_length=1,
                                    description="Pod also covers every pod template.")
    clusters: list[str] | None = Field(default=None, max_length=100,
                                       description="Cluster IDs; default: every cluster.")
    cluster_selector: ClusterSelector | None = Field(
        default=None, description="Clusters by label (instead of clusters).")


class PolicyCreate(_Strict):
    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL)
    type: Literal["admission_controller"] = "admission_controller"
    description: str = Field(default="", max_length=1024)
    enforcement: Enforcement = Enforcement.DENY
    enabled: bool = True
    targets: PolicyTargetsBody
    rules: dict[str, Any] = Field(description="Catalogue rules by name (see "
                                  "docs/security-policies.md), e.g. "
                                  '{"require_resource_limits": {"cpu": true, "memory": true}}.')


class PolicyPatch(_Strict):
    description: str | None = Field(default=None, max_length=1024)
    enforcement: Enforcement | None = None
    enabled: bool | None = None
    targets: PolicyTargetsBody | None = None
    rules: dict[str, Any] | None = Field(default=None, description="Replaces every rule.")


class PolicyCluster(BaseModel):
    cluster_id: str
    state: str = Field(description="applied, failed, pending or removed.")
    reason: str | None = None
    message: str | None = None


class PolicyView(BaseModel):
    id: str = Field(description="Policy ID (the SecurityPolicy name).")
    name: str
    namespace: str
    type: str
    enabled: bool
    description: str
    enforcement: str
    targets: dict[str, Any]
    rules: dict[str, Any]
    status: str = Field(description="pending, active, failed, disabled or deleting.")
    clusters: list[PolicyCluster]
    created_at: str | None


class PolicyList(BaseModel):
    policies: list[PolicyView]
    total: int


def _rules_spec(rules: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in rules.items():
        if name not in _CAMEL:
            raise APIError("INVALID_REQUEST", f"rules.{name}: unknown rule {name!r}; the "
                           f"catalogue has: {', '.join(CATALOGUE)}",
                           {"field": f"rules.{name}", "known_rules": CATALOGUE})
        if name in ("require_resource_limits", "require_resource_requests") and value is True:
            value = {}  # both cpu and memory
        out[_CAMEL[name]] = value
    return out


def _targets_spec(targets: PolicyTargetsBody) -> dict[str, Any]:
    spec: dict[str, Any] = {"namespaces": targets.namespaces,
                            "kinds": [str(k) for k in targets.kinds]}
    if targets.clusters is not None:
        spec["clusters"] = targets.clusters
    if targets.cluster_selector is not None:
        selector = targets.cluster_selector
        spec["clusterSelector"] = {k: v for k, v in {
            "matchLabels": selector.match_labels,
            "matchExpressions": None if selector.match_expressions is None else
            [r.model_dump(exclude_none=True) for r in selector.match_expressions]}.items()
            if v is not None}
    return spec


def policy_spec(body: PolicyCreate | PolicyPatch,
                current: dict[str, Any] | None = None) -> SecurityPolicySpec:
    """The CRD spec a body asks for (``current`` for a PATCH); 400 naming the field when the
    catalogue or the schema refuses it."""
    spec = dict(current or {})
    for field in ("description", "enforcement", "enabled"):
        value = getattr(body, field)
        if value is not None:
            spec[field] = str(value) if field == "enforcement" else value
    if body.targets is not None:
        spec["targets"] = _targets_spec(body.targets)
    if body.rules is not None:
        spec["rules"] = _rules_spec(body.rules)
    if isinstance(body, PolicyCreate):
        spec["type"] = body.type
    try:
        return SecurityPolicySpec.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = list(first["loc"])
        if location and location[0] == "rules" and len(location) > 1 and \
                str(location[1]) in RULE_NAMES:
            location[1] = RULE_NAMES[str(location[1])]
        field = rest_field(location)
        message = str(first["msg"]).removeprefix("Value error, ")
        raise APIError("INVALID_REQUEST", f"{field}: {message}" if field else message,
                       {"field": field}) from exc


def policy_view(obj: dict[str, Any]) -> PolicyView:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    status = obj.get("status") or {}
    targets = spec.get("targets") or {}
    rules = spec.get("rules") or {}
    clusters = [PolicyCluster(cluster_id=c["cluster"], state=str(c.get("state", "")).lower(),
                              reason=c.get("reason"), message=c.get("message"))
                for c in status.get("clusters") or []]
    return PolicyView(
        id=meta["name"], name=meta["name"], namespace=meta["namespace"],
        type=spec.get("type", "admission_controller"), enabled=spec.get("enabled", True),
        description=spec.get("description", ""), enforcement=spec.get("enforcement", "deny"),
        targets={rest_field([key]): value for key, value in targets.items()},
        rules={RULE_NAMES.get(key, key): value for key, value in rules.items()},
        status=_status_word(obj), clusters=clusters,
        created_at=meta.get("creationTimestamp"))


def _status_word(obj: dict[str, Any]) -> str:
    meta, status = obj["metadata"], obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "deleting"
    if not (obj.get("spec") or {}).get("enabled", True):
        return "disabled"
    current = status.get("observedGeneration") == meta.get("generation")
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or not current:
        return "pending"
    if ready.get("status") == "True":
        return "active"
    stalled = any(c.get("type") == "Stalled" and c.get("status") == "True"
                  for c in status.get("conditions") or [])
    return "failed" if stalled or any(c.get("state") == "Failed"
                                      for c in status.get("clusters") or []) else "pending"
