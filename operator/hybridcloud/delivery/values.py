"""Values for plain-YAML sources: the few overrides users set per app and per cluster.

For Helm charts the merged values are simply the chart's values. For plain manifests these keys
are understood (anything else is ignored, so one values block can serve both layouts):

- ``image.tag`` / ``image.repository``: set on every container (not init containers) of
  Deployments, StatefulSets and DaemonSets; the tag replaces any tag or digest.
- ``replicas``: ``spec.replicas`` of Deployments and StatefulSets.
- ``resources``: merged into every such container's ``resources`` (requests/limits).
- ``components.<name>``: the same keys for the workloads of one component only, over the above.

Wrong types are a :class:`RenderError` naming the values field, never a crash.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ..merging import deep_merge
from .render import Manifest, RenderError

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}
SCALABLE = {"Deployment", "StatefulSet"}


def apply_values(manifests: Sequence[Manifest], values: Mapping[str, Any] | None,
                 *, field: str = "values") -> list[Manifest]:
    """Copies of ``manifests`` with ``values`` applied to their workloads."""
    values = values or {}
    per_component = values.get("components", {})
    if not isinstance(per_component, Mapping):
        raise RenderError(f"{field}.components", "must be a mapping of component → values")
    result = []
    for manifest in manifests:
        if manifest.obj.get("kind") not in WORKLOADS:
            result.append(manifest)
            continue
        effective = dict(values)
        where = field
        if manifest.component and isinstance(per_component.get(manifest.component), Mapping):
            effective = deep_merge(values, per_component[manifest.component])
            where = f"{field}.components.{manifest.component}"
        obj = copy.deepcopy(manifest.obj)
        _apply(obj, effective, where)
        result.append(Manifest(obj, manifest.origin, manifest.component))
    return result


def _apply(obj: dict[str, Any], values: Mapping[str, Any], field: str) -> None:
    spec = obj.setdefault("spec", {})
    replicas = values.get("replicas")
    if replicas is not None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise RenderError(f"{field}.replicas", f"must be a non-negative integer, "
                              f"not {replicas!r}")
        if obj["kind"] in SCALABLE:
            spec["replicas"] = replicas
    image = values.get("image")
    if image is not None and not isinstance(image, Mapping):
        raise RenderError(f"{field}.image", "must be a mapping with tag and/or repository")
    resources = values.get("resources")
    if resources is not None and not isinstance(resources, Mapping):
        raise RenderError(f"{field}.resources", "must be a mapping with requests and/or limits")
    containers = (((spec.get("template") or {}).get("spec") or {}).get("containers")) or []
    for container in containers:
        if not isinstance(container, dict):
            continue
        if image:
            container["image"] = retag(str(container.get("image", "")), image, f"{field}.image")
        if resources:
            container["resources"] = deep_merge(container.get("resources"), resources)


def retag(reference: str, image: Mapping[str, Any], field: str) -> str:
    """``registry:5000/app:1.0`` + ``{tag: v2}`` → ``registry:5000/app:v2`` (digests dropped)."""
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    repository, tag = (name[:colon], name[colon + 1:]) if colon > slash else (name, None)
    if "repository" in image:
        if not isinstance(image["repository"], str) or not image["repository"]:
            raise RenderError(f"{field}.repository", "must be a non-empty string")
        repository = image["repository"]
    if "tag" in image:
        if not isinstance(image["tag"], str | int | float) or isinstance(image["tag"], bool) \
                or not str(image["tag"]):
            raise RenderError(f"{field}.tag", "must be a non-empty string")
        tag = str(image["tag"])
    return f"{repository}:{tag}" if tag else repository
