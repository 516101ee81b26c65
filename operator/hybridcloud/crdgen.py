"""Generate the CustomResourceDefinitions under ``crds/`` from the pydantic models.

Pydantic's JSON Schema is close to, but not, a Kubernetes *structural* schema: it uses ``$ref``,
``anyOf`` with ``null`` for optional fields, ``title`` keys and ``additionalProperties: true``.
This module rewrites it into the structural form the apiserver requires (inlined, typed at every
level, unknown-field preservation spelled the Kubernetes way) and wraps it in a CRD with the
status subresource, printer columns and CEL rules.

    python -m hybridcloud.crdgen            # write crds/*.yaml
    python -m hybridcloud.crdgen --check    # exit 1 when the committed YAML is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from . import GROUP, VERSION
from .models import (
    HybridCluster,
    MultiClusterApplication,
    SecurityPolicy,
    TenantPolicy,
    WebhookSubscription,
)
from .models.common import DNS_LABEL, cel
from .models.securityscan import ConfigAuditReport, SecurityScan, VulnerabilityReport

JSON = dict[str, Any]

# Keys a structural schema may carry; anything else pydantic emits (title, …) is dropped.
_KEPT_KEYS = {
    "type", "description", "default", "enum", "format", "pattern", "minimum", "maximum",
    "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
    "properties", "required", "items", "additionalProperties", "nullable",
}


def structural(schema: JSON, defs: JSON) -> JSON:
    """Rewrite one pydantic JSON Schema node (and its children) into structural form."""
    node = dict(schema)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}  # the field's own description/default win over the type's
    if "anyOf" in node:
        variants = [v for v in node.pop("anyOf") if v.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"cannot express union in a structural schema: {variants}")
        node = {**structural(variants[0], defs), **node}
    if node.get("default", "") is None:
        del node["default"]  # optional fields: absent, never null

    out: JSON = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            out[key] = value
        elif key not in _KEPT_KEYS:
            continue
        elif key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif value is not False:
                out[key] = structural(value, defs)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "description" in out:
        out["description"] = " ".join(out["description"].split())
    return _ordered(out)


_LEADING_KEYS = ("type", "description")


def _ordered(node: JSON) -> JSON:
    """Stable, readable key order: type, description, then the rest alphabetically."""
    first = {key: node[key] for key in _LEADING_KEYS if key in node}
    return first | {key: node[key] for key in sorted(node) if key not in first}


def _object_schema(model: type[BaseModel]) -> JSON:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return structural(schema, schema.get("$defs", {}))


Kind = (type[HybridCluster] | type[MultiClusterApplication] | type[TenantPolicy]
        | type[SecurityPolicy] | type[WebhookSubscription] | type[SecurityScan]
        | type[VulnerabilityReport] | type[ConfigAuditReport])


def _status_model(kind: Kind) -> type[BaseModel] | None:
    """The kind's status model; None for kinds without status (policies the operator reads)."""
    if "status" not in kind.model_fields:
        return None  # reports: the operator writes them whole
    status_model = kind.model_fields["status"].annotation
    found = [arg for arg in getattr(status_model, "__args__", ())
             if isinstance(arg, type) and issubclass(arg, BaseModel)]
    return found[0] if found else None


def _root_schema(kind: Kind) -> JSON:
    # Reports keep trivy-operator's shape: their content is under `report`, not `spec`.
    body = getattr(kind, "BODY_FIELD", "spec")
    spec_model = kind.model_fields[body].annotation
    assert isinstance(spec_model, type) and issubclass(spec_model, BaseModel)
    properties: JSON = {
        "apiVersion": {"type": "string", "description": "APIVersion of this object."},
        "kind": {"type": "string", "description": "Kind of this object."},
        "metadata": {"type": "object"},
        body: _object_schema(spec_model),
    }
    status_cls = _status_model(kind)
    if status_cls is not None:
        status = _object_schema(status_cls)
        status["description"] = "Observed state, written by the hybridcloud operator."
        properties["status"] = status
    return {
        "type": "object",
        "description": (kind.__doc__ or "").replace("\n    ", " ").strip(),
        "required": [body],
        "properties": properties,
        "x-kubernetes-validations": [
            cel(f"self.metadata.name.matches('{DNS_LABEL}') && size(self.metadata.name) <= 63",
                "metadata.name must be a DNS label: lowercase letters, digits and '-', "
                "at most 63 characters (it names provider resources and Secrets)"),
        ],
    }


def _condition_column(name: str, condition: str) -> JSON:
    return {"name": name, "type": "string",
            "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status'}


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

_PRINTER_COLUMNS: dict[str, list[JSON]] = {
    HybridCluster.KIND: [
        {"name": "Provider", "type": "string", "jsonPath": ".spec.provider"},
        {"name": "Region", "type": "string", "jsonPath": ".spec.region"},
        # What runs (or, before the create, the provider default chosen when spec.version is
        # left out), so the column is never empty.
        {"name": "Version", "type": "string", "jsonPath": ".status.version"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        _condition_column("Ready", "Ready"),
        {"name": "Nodes", "type": "integer", "jsonPath": ".status.nodes.ready",
         "priority": 1},
        {"name": "Endpoint", "type": "string", "jsonPath": ".status.endpoint", "priority": 1},
        _AGE,
    ],
    MultiClusterApplication.KIND: [
        {"name": "Revision", "type": "string", "jsonPath": ".spec.source.revision"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        _condition_column("Synced", "Synced"),
        _condition_column("Ready", "Ready"),
        {"name": "Commit", "type": "string", "jsonPath": ".status.sourceRevision",
         "priority": 1},
        {"name": "Clusters", "type": "string", "jsonPath": ".status.placedClusters",
         "priority": 1},
        _AGE,
    ],
    TenantPolicy.KIND: [
        {"name": "Namespaces", "type": "string", "jsonPath": ".spec.namespaces"},
        {"name": "Default-Credentials", "type": "boolean",
         "jsonPath": ".spec.clusters.allowDefaultCredentials"},
        {"name": "Max-Clusters", "type": "integer", "jsonPath": ".spec.clusters.maxClusters"},
        {"name": "Max-Nodes", "type": "integer", "jsonPath": ".spec.clusters.maxNodes"},
        _AGE,
    ],
    SecurityPolicy.KIND: [
        {"name": "Enforcement", "type": "string", "jsonPath": ".spec.enforcement"},
        {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
        {"name": "Namespaces", "type": "string", "jsonPath": ".spec.targets.namespaces"},
        _condition_column("Ready", "Ready"),
        {"name": "Policy", "type": "string", "jsonPath": ".status.policyName", "priority": 1},
        _AGE,
    ],
    WebhookSubscription.KIND: [
        {"name": "URL", "type": "string", "jsonPath": ".spec.url"},
        {"name": "Active", "type": "boolean", "jsonPath": ".spec.active"},
        {"name": "Delivered", "type": "integer", "jsonPath": ".status.delivered"},
        {"name": "Failed", "type": "integer", "jsonPath": ".status.failed"},
        {"name": "Events", "type": "string", "jsonPath": ".spec.events", "priority": 1},
        _AGE,
    ],
    # -- scans (issue 16) --
    SecurityScan.KIND: [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Done", "type": "integer", "jsonPath": ".status.progress.done"},
        {"name": "Total", "type": "integer", "jsonPath": ".status.progress.total"},
        {"name": "Critical", "type": "integer", "jsonPath": ".status.summary.critical"},
        {"name": "High", "type": "integer", "jsonPath": ".status.summary.high"},
        {"name": "Reason", "type": "string", "jsonPath": ".status.reason", "priority": 1},
        _AGE,
    ],
    VulnerabilityReport.KIND: [
        {"name": "Repository", "type": "string", "jsonPath": ".report.artifact.repository"},
        {"name": "Tag", "type": "string", "jsonPath": ".report.artifact.tag"},
        {"name": "Critical", "type": "integer", "jsonPath": ".report.summary.criticalCount"},
        {"name": "High", "type": "integer", "jsonPath": ".report.summary.highCount"},
        {"name": "Medium", "type": "integer", "jsonPath": ".report.summary.mediumCount"},
        {"name": "Low", "type": "integer", "jsonPath": ".report.summary.lowCount"},
        _AGE,
    ],
    ConfigAuditReport.KIND: [
        {"name": "Cluster", "type": "string", "jsonPath": ".report.cluster"},
        {"name": "High", "type": "integer", "jsonPath": ".report.summary.highCount"},
        {"name": "Medium", "type": "integer", "jsonPath": ".report.summary.mediumCount"},
        {"name": "Low", "type": "integer", "jsonPath": ".report.summary.lowCount"},
        _AGE,
    ],
}


def crd(kind: Kind) -> JSON:
    """The full CustomResourceDefinition object for one kind."""
    cluster_scoped = getattr(kind, "CLUSTER_SCOPED", False)
    version: JSON = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": _PRINTER_COLUMNS[kind.KIND],
        "schema": {"openAPIV3Schema": _root_schema(kind)},
    }
    if _status_model(kind) is None:
        del version["subresources"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "hybridcloud",
                       "app.kubernetes.io/part-of": "hybridcloud"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Cluster" if cluster_scoped else "Namespaced",
            "names": {
                "kind": kind.KIND,
                "listKind": f"{kind.KIND}List",
                "plural": kind.PLURAL,
                "singular": kind.KIND.lower(),
                "shortNames": list(kind.SHORT_NAMES),
                "categories": ["hybridcloud"],
            },
            "versions": [version],
        },
    }


KINDS: tuple[Kind, ...] = (HybridCluster, MultiClusterApplication, TenantPolicy, SecurityPolicy,
                           WebhookSubscription, SecurityScan, VulnerabilityReport,
                           ConfigAuditReport)


def rendered() -> dict[str, str]:
    """File name → YAML text for every CRD, exactly as committed under ``crds/``."""
    header = ("# Generated by `make crds` (python -m hybridcloud.crdgen) from the pydantic "
              "models.\n# Do not edit by hand.\n")
    return {
        f"{GROUP}_{kind.PLURAL}.yaml": header + yaml.safe_dump(
            crd(kind), sort_keys=False, width=100, allow_unicode=True)
        for kind in KINDS
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("crds"), help="output directory")
    parser.add_argument("--check", action="store_true",
                        help="compare with the files on disk instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale generated CRDs (run `make crds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
