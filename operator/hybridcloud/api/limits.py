"""Tenant limits the REST API can tell up front, before it writes a HybridCluster.

The operator is the authority: it stalls a cluster its namespace's TenantPolicy refuses
(:mod:`hybridcloud.reconcile.tenancy`) before any cloud call, whoever wrote the object. The API
runs the same pure decisions on the same watch-backed data (TenantPolicies, namespace labels and
its cluster cache), so a REST caller gets the refusal as an error instead of a cluster that stalls:

* ``403 FORBIDDEN`` — the namespace may not use the platform's default credentials (REST-created
  clusters always use them: the contract has no credentials field);
* ``403 QUOTA_EXCEEDED`` — the create (or a PATCH growing node pools) goes beyond
  ``maxClusters``/``maxNodes``.

The details carry ``reason`` (the condition reason the operator would set) and ``policy``. For
a namespace no TenantPolicy selects, the API checks only when it knows the operator's defaults
(``HYBRIDCLOUD_API_TENANT_DEFAULTS``, the chart passes the operator's value); otherwise the
operator's Stalled condition reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import HybridClusterSpec, TenantRules
from ..reconcile import tenancy
from .deps import Caches
from .errors import APIError

_NEWEST = "~"  # sorts after every RFC 3339 timestamp: a cluster being created is the newest


def check_cluster(caches: Caches, defaults: TenantRules | None, namespace: str, name: str,
                  spec: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> None:
    """Raise the contract's error when the namespace's rules refuse this cluster spec."""
    governing = caches.tenants.rules_for(namespace)
    if governing.source == tenancy.DEFAULTS_SOURCE and defaults is None:
        return  # the API does not know the operator's defaults: the operator will tell
    model = HybridClusterSpec.model_validate(spec)
    # A PATCH cannot change which credentials a cluster uses (REST has no such field); only
    # what it asks for can grow.
    refusal = tenancy.credentials_refusal(governing, model) if current is None else None
    if refusal is None:
        this = tenancy.usage_of({**current, "spec": spec}) if current is not None else \
            tenancy.ClusterUsage(name, _NEWEST, tenancy.node_demand(model))
        if this is not None:
            others = [usage for obj in caches.clusters.items(namespace)
                      if (usage := tenancy.usage_of(obj)) is not None]
            refusal = tenancy.quota_refusal(governing, this, others)
    if refusal is not None:
        code = "QUOTA_EXCEEDED" if refusal.reason == tenancy.QUOTA_EXCEEDED else "FORBIDDEN"
        raise APIError(code, refusal.message,
                       {"reason": refusal.reason, "policy": governing.source})
