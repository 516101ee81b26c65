"""What an application pass writes back to the management cluster: its status (derived by the
pure logic, with the domain event of a transition), the ``synced`` annotation of a carried-out
sync request, and the freshest body the controller keeps of each application.

A mixin of :class:`~hybridcloud.controllers.application.ApplicationController`, kept apart so
the controller module holds the pass itself (issue 19: the module had grown past 400 lines).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.types import PatchType

from ..conditions import now_rfc3339
from ..events.transitions import recorded
from ..feed import Feed
from ..kube import objects
from ..kube.resources import MultiClusterApplicationResource
from ..kube.wire import KubeWire
from ..models import MultiClusterApplication
from ..reconcile import application as logic
from .announce import announce

Key = tuple[str, str]


class ApplicationStatusWriter:
    """Needs the controller's ``client``, ``wire``, ``feed`` and ``bodies``."""

    client: AsyncClient
    wire: KubeWire
    feed: Feed
    bodies: dict[Key, dict[str, Any]]

    async def _record_sync(self, key: Key, body: dict[str, Any], token: str) -> dict[str, Any]:
        """Mark the sync request ``token`` as carried out (on the object: survives restarts)."""
        updated = await self.client.patch(
            MultiClusterApplicationResource, key[1],
            {"metadata": {"annotations": {logic.SYNCED_ANNOTATION: token}}},
            namespace=key[0], patch_type=PatchType.MERGE)
        return self._store(key, dict(updated.to_dict()))  # type: ignore[no-untyped-call]

    async def _conclude(self, key: Key, body: dict[str, Any],
                        observation: logic.Observation) -> None:
        decision = logic.derive_status(body.get("status"), observation, now=now_rfc3339())
        status = recorded(body.get("status"), decision.status, decision.transition,
                          now=now_rfc3339())
        updated = await objects.replace_status(self.wire, MultiClusterApplicationResource, body,
                                               status)
        if updated is not None:
            body = self._store(key, updated)
        if decision.transition:
            self._announce(body, decision.transition, status)

    def _store(self, key: Key, body: dict[str, Any]) -> dict[str, Any]:
        if objects.newer(body, self.bodies.get(key)):
            self.bodies[key] = body
        return body

    def _announce(self, body: Mapping[str, Any], transition: str,
                  status: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        clusters = status.get("placedClusters") or []
        announce(self.feed, MultiClusterApplication.KIND, meta, transition, status, {
            "application_id": meta["name"], "name": meta["name"],
            "cluster_id": clusters[0] if clusters else None, "clusters": clusters,
            "version": status.get("sourceRevision")})
