"""Pure helpers for delivered objects: ownership stamps, apply order, drift and health.

Ownership: every object we apply carries ``app.kubernetes.io/managed-by: hybridcloud`` and the
label ``platform.example.com/application: <application uid>`` (uids are label-safe and unique
across namespaces and re-creations), plus a readable ``platform.example.com/application-name``
annotation. Prune and removal delete only objects that still carry our label, so an object a
user took over (by removing the label) is never deleted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import GROUP
from ..models.application import Health

FIELD_MANAGER = "hybridcloud-delivery"
APP_LABEL = f"{GROUP}/application"
APP_NAME_ANNOTATION = f"{GROUP}/application-name"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "hybridcloud"

# Dependencies first: definitions and namespaces, then what pods need, then workloads; admission
# webhooks last so they cannot block the app's own objects.
_FIRST = ["CustomResourceDefinition", "Namespace", "ResourceQuota", "LimitRange", "PriorityClass",
          "StorageClass", "PersistentVolume", "ServiceAccount", "ClusterRole", "Role",
          "ClusterRoleBinding", "RoleBinding", "Secret", "ConfigMap", "PersistentVolumeClaim",
          "Service"]
_LAST = ["HorizontalPodAutoscaler", "PodDisruptionBudget", "APIService",
         "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
_HEALTH_RANK = {Health.HEALTHY: 0, Health.UNKNOWN: 1, Health.PROGRESSING: 2,
                Health.DEGRADED: 3, Health.MISSING: 4}


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Where an object lives on a member cluster (namespace None: cluster-scoped)."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        meta = obj["metadata"]
        return cls(str(obj["apiVersion"]), str(obj["kind"]), meta.get("namespace"),
                   str(meta["name"]))

    def to_json(self) -> list[str | None]:
        return [self.api_version, self.kind, self.namespace, self.name]

    @classmethod
    def from_json(cls, raw: Sequence[str | None]) -> ObjectKey:
        return cls(str(raw[0]), str(raw[1]), raw[2], str(raw[3]))

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def order_key(kind: str) -> int:
    if kind in _FIRST:
        return _FIRST.index(kind)
    if kind in _LAST:
        return len(_FIRST) + 1 + _LAST.index(kind)
    return len(_FIRST)


# Apply waves (as Flux stages its server-side applies): what other objects live in or are typed
# by, then what pods are admitted against, then the ordinary objects all at once, then what
# could block the app's own writes. Within a wave nothing depends on anything else, so its
# applies run in parallel; applying every kind in its own turn made a pass one round trip per
# object (issue 19's delivery profile).
_WAVES = (("CustomResourceDefinition", "Namespace"),
          ("ResourceQuota", "LimitRange", "PriorityClass", "StorageClass"))


def apply_wave(kind: str) -> int:
    """The wave ``kind`` is applied in: every earlier wave has been applied when it starts."""
    for wave, kinds in enumerate(_WAVES):
        if kind in kinds:
            return wave
    return len(_WAVES) + 1 if kind in _LAST else len(_WAVES)


def delete_order_key(key: ObjectKey) -> tuple[int, ObjectKey]:
    """Reverse of the apply order: workloads first, namespaces and CRDs last."""
    return -order_key(key.kind), key


def stamp(obj: Mapping[str, Any], app_uid: str, app_name: str) -> dict[str, Any]:
    """A copy of ``obj`` carrying our ownership labels and annotation."""
    result = json.loads(json.dumps(obj))  # deep copy with JSON types only
    meta = result.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY: MANAGED_BY_VALUE,
                      APP_LABEL: app_uid}
    meta["annotations"] = {**(meta.get("annotations") or {}), APP_NAME_ANNOTATION: app_name}
    return dict(result)


def owned_by(live: Mapping[str, Any], app_uid: str) -> bool:
    return ((live.get("metadata") or {}).get("labels") or {}).get(APP_LABEL) == app_uid


def fingerprint(objects: Iterable[Mapping[str, Any]]) -> str:
    """Stable hash of the desired objects: changes exactly when what we would apply changes."""
    canonical = sorted(json.dumps(obj, sort_keys=True, separators=(",", ":")) for obj in objects)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def drift(desired: Any, live: Any, path: str = "") -> str | None:
    """The first field path where ``live`` does not hold what ``desired`` says, or None.

    Only fields we set are compared (the server adds defaults and status); scalars compare as
    text so ``8080`` and ``"8080"`` match.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return path or "."
        for key, value in desired.items():
            if key not in live:
                if value in (None, {}, []):
                    continue
                return f"{path}.{key}"
            found = drift(value, live[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return path
        for index, (want, have) in enumerate(zip(desired, live, strict=True)):
            found = drift(want, have, f"{path}[{index}]")
            if found:
                return found
        return None
    if desired is None:
        return None
    if isinstance(desired, bool) or isinstance(live, bool):
        return None if desired == live else path
    return None if str(desired) == str(live) else path


def stored_drift(desired: Any, would_store: Any, live: Any, path: str = "") -> str | None:
    """The first field path ``desired`` sets where the live object differs from what the
    apiserver would store for it, or None.

    ``would_store`` is the answer of a server-side-apply dry run of ``desired``: the apiserver
    canonicalises quantities (``0.5`` → ``500m``, ``1Gi`` stays, ``1024Mi`` → ``1Gi``) and fills
    defaults, so text comparison of ``desired`` with ``live`` reports differences that an apply
    would not change. Comparing the two stored forms on the fields we set does not.
    """
    if isinstance(desired, Mapping):
        if not isinstance(would_store, Mapping) or not isinstance(live, Mapping):
            return None if would_store == live else (path or ".")
        for key, value in desired.items():
            found = stored_drift(value, would_store.get(key), live.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(desired, list) and isinstance(would_store, list) and isinstance(live, list) \
            and len(would_store) == len(live) and len(desired) <= len(live):
        for index, want in enumerate(desired):
            found = stored_drift(want, would_store[index], live[index], f"{path}[{index}]")
            if found:
                return found
        return None
    return None if would_store == live else (path or ".")


def workload_health(obj: Mapping[str, Any] | None) -> Health:
    """kstatus-like health of one live object (non-workloads are healthy when present)."""
    if obj is None:
        return Health.MISSING
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation", 0)
    if kind in ("Deployment", "StatefulSet", "DaemonSet") and \
            status.get("observedGeneration", 0) < generation:
        return Health.PROGRESSING
    if kind == "Deployment":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and \
                    cond.get("reason") == "ProgressDeadlineExceeded":
                return Health.DEGRADED
        wanted = spec.get("replicas", 1)
        ready = min(status.get("updatedReplicas", 0), status.get("availableReplicas", 0))
        return Health.HEALTHY if ready >= wanted else Health.PROGRESSING
    if kind == "StatefulSet":
        wanted = spec.get("replicas", 1)
        current = status.get("updateRevision") in (None, status.get("currentRevision"))
        ready = status.get("readyReplicas", 0) >= wanted
        return Health.HEALTHY if ready and current else Health.PROGRESSING
    if kind == "DaemonSet":
        wanted = status.get("desiredNumberScheduled", 0)
        ok = status.get("numberAvailable", 0) >= wanted and \
            status.get("updatedNumberScheduled", 0) >= wanted
        return Health.HEALTHY if ok else Health.PROGRESSING
    return Health.HEALTHY


def worst(healths: Iterable[Health]) -> Health:
    return max(healths, key=lambda h: _HEALTH_RANK[Health(h)], default=Health.HEALTHY)


def ready_pods(obj: Mapping[str, Any]) -> int:
    status = obj.get("status") or {}
    if obj.get("kind") == "DaemonSet":
        return int(status.get("numberReady", 0))
    return int(status.get("readyReplicas", 0))
