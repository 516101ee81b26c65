"""Building blocks shared by both custom resources: base model, conditions, selectors, refs.

Every model here is the single source of truth for three schemas: the CRD's structural OpenAPI
schema (see ``hybridcloud.crdgen``), REST request/response validation, and SDK types. Field
descriptions become ``kubectl explain`` text, so they are written for users.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

_BASE_CONFIG = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    extra="forbid",
    use_enum_values=True,
)


def with_rules(*rules: dict[str, str]) -> ConfigDict:
    """Model config adding CEL rules (``x-kubernetes-validations``) to the model's schema."""
    config = ConfigDict(**_BASE_CONFIG)
    validations: list[JsonValue] = [dict(rule) for rule in rules]
    config["json_schema_extra"] = {"x-kubernetes-validations": validations}
    return config


class KubeModel(BaseModel):
    """Base for everything stored in a custom resource: camelCase on the wire, strict keys.

    ``extra="forbid"`` mirrors the apiserver's structural pruning with field validation: an
    unknown key is an error, never silently dropped.
    """

    model_config = _BASE_CONFIG

    def to_kube(self) -> dict[str, Any]:
        """Serialise the way the Kubernetes API stores it (aliases, no unset/None fields)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def cel(rule: str, message: str, *, field_path: str | None = None,
        reason: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry (a CEL rule the apiserver enforces)."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""RFC 1123 label (namespaces, node groups, components): at most 63 characters."""
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""RFC 1123 subdomain, the name of most objects (Secrets, ConfigMaps, HybridClusters): at most
253 characters. Every name a tenant writes is checked against it (the CRD schema, the REST
schemas and :mod:`hybridcloud.kube.references`), because a name becomes a URL path segment:
``../../other/secrets/x`` would otherwise read another namespace's object."""
DATA_KEY = r"^[-._a-zA-Z0-9]+$"
"""A key of a Secret's or ConfigMap's data, as the apiserver allows it."""


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(KubeModel):
    """A standard Kubernetes condition (metav1.Condition shape), as kstatus and Argo CD read it."""

    type: str = Field(
        description="Condition type, e.g. Ready, Reconciling, Stalled, InfrastructureReady.",
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        max_length=316,
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        default="",
        description="Machine-readable CamelCase reason for the last transition.",
        max_length=1024,
    )
    message: str = Field(
        default="", description="Human-readable detail about the transition.", max_length=32768
    )
    last_transition_time: datetime = Field(
        description="When the status last changed (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was computed from."
    )


def list_map(*keys: str) -> dict[str, Any]:
    """Schema extension making a list a map keyed by ``keys`` (unique keys, merge by key)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


CONDITIONS_SCHEMA_EXTRA = list_map("type")


class SecretKeyRef(KubeModel):
    """Reference to a Secret in the same namespace as the referring object."""

    name: str = Field(description="Name of a Secret in the same namespace (a DNS subdomain).",
                      min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    key: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=DATA_KEY,
        description="Key inside the Secret; when omitted the consumer's documented default "
        "is used.",
    )


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(KubeModel):
    """One set-based label requirement."""

    key: str = Field(description="Label key the requirement applies to.", min_length=1)
    operator: LabelSelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[str] | None = Field(
        default=None, description="Values for In/NotIn; must be empty for Exists/DoesNotExist."
    )


class LabelSelector(KubeModel):
    """Standard Kubernetes label selector over HybridCluster labels."""

    match_labels: dict[str, str] | None = Field(
        default=None, description="Labels a cluster must carry, exactly."
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, description="Set-based requirements; all must hold."
    )


