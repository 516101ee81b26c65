"""The inventory ConfigMap an application keeps on each member: what it put there.

``app-<application uid>`` in ``hybridcloud-system`` lists every object the application applied
to that member and the fingerprint of the last apply. :mod:`.member` reads and writes it; this
module only knows its shape, so the shape has one home.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import objects as o

INVENTORY_NAMESPACE = "hybridcloud-system"


def inventory_key(uid: str) -> o.ObjectKey:
    """Where the inventory of the application ``uid`` lives on a member."""
    return o.ObjectKey("v1", "ConfigMap", INVENTORY_NAMESPACE, f"app-{uid}")


def inventory_body(uid: str, display: str, keys: set[o.ObjectKey],
                   fingerprint: str | None) -> dict[str, Any]:
    """The ConfigMap listing ``keys`` (sorted, so an unchanged set writes identical data)."""
    data = {"application": display, "objects": json.dumps([k.to_json() for k in sorted(keys)])}
    if fingerprint:
        data["fingerprint"] = fingerprint
    key = inventory_key(uid)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": key.name, "namespace": key.namespace,
                         "labels": {o.MANAGED_BY: o.MANAGED_BY_VALUE}},
            "data": data}


def parse_inventory(found: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"keys": …, "fingerprint": …}`` of a read inventory; ``{}`` when there is none."""
    if found is None:
        return {}
    data = found.get("data") or {}
    keys = {o.ObjectKey.from_json(raw) for raw in json.loads(data.get("objects", "[]"))}
    return {"keys": keys, "fingerprint": data.get("fingerprint")}
