"""One member cluster: server-side apply in dependency order, inventory, prune, drift, health.

The inventory is a ConfigMap ``app-<application uid>`` in ``hybridcloud-system`` on the member
itself: it lists every object the application put there. It is written *before* applying (the
union of old and new objects), so a crash mid-apply never leaves an object we would forget to
prune or remove; after a successful apply with prune it shrinks to the new set.

Objects are applied only when what we would apply changed (fingerprint in the inventory) or, with
self-heal, when a live object drifted from it. Otherwise a pass is read-only: drift and health
are read from the member's watches (:mod:`.member_cache`), no requests and no writes. With
``Writes.NONE`` (paused, or automated sync off) nothing is written at all — not even the
inventory — and pending changes are reported like drift.

Members are shared ground. Before anything is written, every object is checked against the
tenant's rules (:mod:`hybridcloud.member_writes`): one refused object refuses the whole set.
An object that already exists without this application's label is never adopted (forced
server-side apply would take it over, and removing the app would delete it): it is reported as a
conflict, left out of the inventory, and never written or deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
import httpx2
from cachetools import LRUCache
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError, LoadResourceError
from lightkube.core.resource import NamespacedResource, api_info
from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import (
    async_load_in_cluster_generic_resources,
    create_global_resource,
    create_namespaced_resource,
)
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import CascadeType, PatchType

from .. import member_writes
from ..kube.counted import counted
from ..kube.objects import ignore_missing
from ..kube.wire import APPLY_PATCH, KubeWire, object_path
from ..member_writes import Writes
from ..models.application import Health
from ..observability.operator_metrics import counted_sync
from . import objects as o
from .inventory import inventory_key
from .member_cache import AppliedObjects
from .member_inventory import MemberInventories
from .member_namespaces import MemberNamespaces, bounded
from .member_types import AppIdentity as AppIdentity
from .member_types import Desired, Plan
from .member_types import MemberUnreachableError as MemberUnreachableError
from .member_types import SyncOutcome as SyncOutcome
from .render import Manifest

_TIMEOUT_SECONDS = 20.0
_PLANS_KEPT = 4096  # applications (x target namespace) prepared for this member
_TIMEOUT = httpx2.Timeout(_TIMEOUT_SECONDS)


class MemberCluster:
    def __init__(self, name: str, config: KubeConfig,
                 on_change: Callable[[str], None] | None = None) -> None:
        """``config`` must come from ``kube.kubeconfig_policy.safe_kube_config``;
        ``on_change(app uid)`` is told when someone else changed one of that app's objects."""
        self.name = name
        self.client = counted(AsyncClient(config=config, field_manager=o.FIELD_MANAGER,
                                          timeout=_TIMEOUT))
        # The applies and inventory writes (most of a pass after a push) go over aiohttp: the
        # same request through httpx cost about three times the CPU (issue 19's profile).
        self.wire = KubeWire(config.get(), field_manager=o.FIELD_MANAGER,
                             timeout=_TIMEOUT_SECONDS)
        self._crds_loaded = False
        self.namespaces = MemberNamespaces(self.wire, self.client)  # watched, not asked per write
        self.applied = AppliedObjects(self.client, on_change)  # reads at rest come from here
        self.inventories = MemberInventories(self.wire, self.applied, self.namespaces,
                                             self._get, self._apply)
        # What each application's rendered manifests became here (stamped, namespaced, kinds
        # resolved) and their digest: the renderer hands out the same read-only list for the
        # same inputs, so passes after the first prepare nothing (issue 19's delivery profile:
        # preparing twice per pass and member was 15% of the operator's busy time).
        self._plans: LRUCache[tuple[str, str, int], Plan] = LRUCache(_PLANS_KEPT)
        # Objects found to hold what we apply, with the live resourceVersion they were judged
        # at: a pass where neither changed does not compare them again (comparing every object
        # on every pass was the largest self time in issue 19's delivery-at-scale profile).
        self._in_sync: LRUCache[o.ObjectKey, tuple[dict[str, Any], str]] = LRUCache(
            _PLANS_KEPT * 8)

    async def close(self) -> None:
        await self.applied.stop()
        await self.namespaces.stop()
        await self.wire.close()
        await self.client.close()

    # -- public ------------------------------------------------------------------------------

    @counted_sync
    async def sync(self, app: AppIdentity, manifests: Sequence[Manifest], *,
                   target_namespace: str, prune: bool, self_heal: bool,
                   rules: member_writes.Governing, writes: Writes = Writes.CHANGES,
                   applied_digest: str | None = None) -> SyncOutcome:
        """Bring ``manifests`` onto this member. ``applied_digest``: the digest of the rendering
        last applied here in full (the application's status records it); when it differs from
        this rendering's, every object is applied, otherwise only drifted ones (self-heal)."""
        try:
            return await self._sync(app, manifests, target_namespace, prune, self_heal, writes,
                                    rules, applied_digest)
        except _UNREACHABLE as exc:
            raise MemberUnreachableError(f"cannot reach cluster {self.name}: {exc}") from exc

    async def refusals(self, app: AppIdentity, manifests: Sequence[Manifest], *,
                       target_namespace: str, rules: member_writes.Governing) -> list[str]:
        """What the tenant's rules refuse of ``manifests`` here (read-only: discovery only)."""
        try:
            plan = await self._plan(app, manifests, target_namespace, SyncOutcome())
        except _UNREACHABLE as exc:
            raise MemberUnreachableError(f"cannot reach cluster {self.name}: {exc}") from exc
        return plan.refusals(rules)

    async def remove(self, app: AppIdentity) -> int:
        """Delete everything the application put on this cluster; returns objects deleted."""
        try:
            inventory, _ = await self.inventories.read(app, removing=True)
            deleted = 0
            for key in sorted(inventory.get("keys", []), key=o.delete_order_key):
                deleted += await self._delete_owned(app, key)
            listing = inventory_key(app.uid)
            await ignore_missing(self.client.delete(
                ConfigMap, listing.name, namespace=listing.namespace))
            return deleted
        except _UNREACHABLE as exc:
            raise MemberUnreachableError(f"cannot reach cluster {self.name}: {exc}") from exc

    # -- sync ----------------------------------------------------------------------------------

    async def _sync(self, app: AppIdentity, manifests: Sequence[Manifest], target_namespace: str,
                    prune: bool, self_heal: bool, writes: Writes,
                    rules: member_writes.Governing, applied_digest: str | None) -> SyncOutcome:
        outcome = SyncOutcome()
        plan = await self._plan(app, manifests, target_namespace, outcome)
        desired = plan.desired
        outcome.refused = plan.refusals(rules)
        if outcome.refused:
            return outcome  # one refused object refuses them all, before any read or write
        fingerprint = plan.digest
        live = {d.key: self.applied.lookup(d.resource, d.key) for d in desired}
        unseen = [d for d in desired if live[d.key] is None]  # the member must be asked
        # Nothing can exist yet in a namespace that does not: a new application in a new
        # namespace sends no GET per object (the floor it is measured against sends none).
        if unseen:
            absent, (inventory, unlisted) = await asyncio.gather(
                self.namespaces.absent(_namespace_of(d.key) for d in unseen),
                self.inventories.read(app))
        else:  # everything from the watches: no tasks to gather (a pass at rest)
            absent, (inventory, unlisted) = set(), await self.inventories.read(app)
        found = await bounded(self._live(d, absent) for d in unseen)
        live.update((d.key, current) for d, current in zip(unseen, found, strict=True))
        foreign = {d.key for d in desired
                   if (current := live[d.key]) is not None and not o.owned_by(current, app.uid)}
        outcome.errors += [f"{d.origin}: {d.key}: exists and is not managed by this application"
                           for d in desired if d.key in foreign]
        desired = [d for d in desired if d.key not in foreign]
        old_keys: set[o.ObjectKey] = set(inventory.get("keys", []))
        new_keys = {d.key for d in desired}
        listed = old_keys  # what the inventory on the member lists
        # The digest last applied in full: from the status, else (written by an older version)
        # the inventory's.
        known = applied_digest or inventory.get("fingerprint")
        changed = known != fingerprint
        outcome.digest = known
        apply_all = changed and writes != Writes.NONE
        to_apply: list[Desired] = list(desired) if apply_all else []
        heal = writes == Writes.ALL or (writes == Writes.CHANGES and self_heal)
        for item in [] if apply_all else desired:
            current = live[item.key]
            difference = "missing" if current is None else await self._drift(item, current)
            if difference is None:
                continue
            where = f"{item.key} ({difference})"
            if heal:
                to_apply.append(item)
                outcome.healed.append(where)
            else:
                outcome.out_of_sync.append(where)
        if not changed:
            outcome.digest = fingerprint
        if writes == Writes.NONE:
            if prune:
                outcome.out_of_sync += [f"{key} (no longer in git)"
                                        for key in sorted(old_keys - new_keys)]
            await self._observe(desired, live, outcome)
            return outcome
        if to_apply:
            # Namespaces the app declares itself are applied (and owned) like its other objects.
            declared = {d.key.name for d in to_apply if d.key.kind == "Namespace"}
            needed = self.namespaces.ensure((d.key.namespace for d in to_apply
                                              if d.key.namespace not in declared), absent)
            if not (inventory and new_keys <= old_keys):
                # Listed before anything is created, so a crash mid-apply leaves nothing we
                # would forget to prune; an inventory listing every object needs no write.
                listed = old_keys | new_keys
                await asyncio.gather(needed, self.inventories.write(
                    app, listed, inventory.get("fingerprint"), create=unlisted))
            else:
                await needed
            waves: dict[int, list[Desired]] = {}
            for item in sorted(to_apply, key=lambda d: (o.order_key(d.key.kind), d.key)):
                waves.setdefault(o.apply_wave(item.key.kind), []).append(item)
            for wave in sorted(waves):
                await bounded(self._apply_one(item, live, outcome) for item in waves[wave])
        keep = old_keys | new_keys
        if prune and not outcome.errors:
            for key in sorted(old_keys - new_keys, key=o.delete_order_key):
                outcome.pruned += await self._delete_owned(app, key)
            keep = new_keys
        if not outcome.errors:
            outcome.digest = fingerprint
        # Rewritten only when the objects it lists change. The digest of the rendering lives in
        # the application's status, which the pass writes anyway: keeping it here as well was
        # a second write per application and member on every commit (issue 19's commit to
        # fleet, 200 extra writes per push of 100 applications on two members).
        if keep != listed:
            await self.inventories.write(app, keep, outcome.digest)
        await self._observe(desired, live, outcome)
        return outcome

    async def _apply_one(self, item: Desired, live: dict[o.ObjectKey, dict[str, Any] | None],
                         outcome: SyncOutcome) -> None:
        try:
            live[item.key] = await self.applied.write(
                item.resource, item.key, self._apply(item.resource, item.key, item.obj))
            outcome.applied += 1
        except ApiError as exc:
            self.namespaces.missing(exc, item.key.namespace)
            outcome.errors.append(f"{item.origin}: {item.key}: {exc.status.message}")

    async def _live(self, item: Desired, absent: set[str]) -> dict[str, Any] | None:
        """The apiserver's copy of ``item``; None without asking when its namespace is missing."""
        if _namespace_of(item.key) in absent:
            return None
        return await self._get(item.resource, item.key)

    async def _drift(self, item: Desired, current: dict[str, Any]) -> str | None:
        """Where ``current`` differs from ``item`` as the apiserver would store it, or None.

        Text comparison first (no request when everything matches); a difference there is
        confirmed with a server-side-apply dry run, as Flux does, so canonicalised quantities
        and defaulted fields never count as drift. If the dry run is refused, the textual
        difference stands (a real apply will report why).
        """
        version = (current.get("metadata") or {}).get("resourceVersion")
        judged = self._in_sync.get(item.key)
        if judged is not None and judged[0] is item.obj and judged[1] == version:
            return None  # neither side changed since they were found to agree
        textual = o.drift(item.obj, current)
        if textual is not None:
            try:
                response = await self.client.patch(
                    item.resource, item.key.name, item.obj, namespace=item.key.namespace,
                    patch_type=PatchType.APPLY, field_manager=o.FIELD_MANAGER, force=True,
                    dry_run=True)
            except ApiError:
                return textual
            found = o.stored_drift(item.obj, dict(response.to_dict()), current)
            if found is not None:
                return found
        if version is not None:
            self._in_sync[item.key] = (item.obj, version)
        return None

    async def _plan(self, app: AppIdentity, manifests: Sequence[Manifest],
                    target_namespace: str, outcome: SyncOutcome) -> Plan:
        key = (app.uid, target_namespace, id(manifests))
        kept = self._plans.get(key)
        if kept is not None and kept.manifests is manifests:
            return kept
        errors = len(outcome.errors)
        desired = await self._prepare(app, manifests, target_namespace, outcome)
        plan = Plan(manifests, desired, o.fingerprint(d.obj for d in desired))
        if len(outcome.errors) == errors:  # a kind not served (yet) is looked up again
            self._plans[key] = plan
        return plan

    async def _prepare(self, app: AppIdentity, manifests: Sequence[Manifest],
                       target_namespace: str, outcome: SyncOutcome) -> list[Desired]:
        crds = {(f"{m.obj['spec']['group']}/{v['name']}", m.obj["spec"]["names"]["kind"]): m.obj
                for m in manifests if m.obj.get("kind") == "CustomResourceDefinition"
                for v in (m.obj.get("spec") or {}).get("versions") or []}
        desired = []
        for manifest in manifests:
            obj = o.stamp(manifest.obj, app.uid, app.display)
            resource = await self._resource(obj["apiVersion"], obj["kind"], crds)
            if resource is None:
                outcome.errors.append(f"{manifest.origin}: {obj['kind']} ({obj['apiVersion']}) "
                                      f"is not served by cluster {self.name}")
                continue
            meta = obj["metadata"]
            if issubclass(resource, NamespacedResource):
                meta.setdefault("namespace", target_namespace)
            else:
                meta.pop("namespace", None)
            desired.append(Desired(o.ObjectKey.of(obj), obj, manifest.origin, resource))
        return desired

    async def _observe(self, desired: Sequence[Desired],
                       live: dict[o.ObjectKey, dict[str, Any] | None],
                       outcome: SyncOutcome) -> None:
        healths = []
        counts: dict[str, int] = {}
        pods = 0
        for item in desired:
            plural = api_info(item.resource).plural
            counts[plural] = counts.get(plural, 0) + 1
            if item.key.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
                continue
            # The watch's copy: a workload's status changes arrive as events (and a new pass).
            current = await self._current(item.resource, item.key)
            healths.append(o.workload_health(current))
            pods += o.ready_pods(current or {})
        if any(d.key.kind in ("Deployment", "StatefulSet", "DaemonSet") for d in desired):
            counts["pods"] = pods
        outcome.resources = counts
        outcome.health = o.worst(healths) if desired else Health.MISSING

    # -- plumbing --------------------------------------------------------------------------------

    async def _resource(self, api_version: str, kind: str,
                        crds: Mapping[tuple[str, str], Mapping[str, Any]]) -> Any:
        try:
            return resource_registry.load(api_version, kind)
        except LoadResourceError:
            pass
        crd = crds.get((api_version, kind))
        if crd is not None:
            spec = crd["spec"]
            create = create_namespaced_resource if spec.get("scope") == "Namespaced" \
                else create_global_resource
            return create(spec["group"], api_version.split("/")[-1], kind,
                          spec["names"]["plural"])
        if not self._crds_loaded:
            await async_load_in_cluster_generic_resources(self.client)
            self._crds_loaded = True
            return await self._resource(api_version, kind, crds)
        return None

    async def _current(self, resource: Any, key: o.ObjectKey) -> dict[str, Any] | None:
        """The watch's copy of an object we manage; the apiserver's answer when the watch has
        none (missing, not ours, or not synced yet: only the apiserver can tell)."""
        return self.applied.lookup(resource, key) or await self._get(resource, key)

    async def _get(self, resource: Any, key: o.ObjectKey) -> dict[str, Any] | None:
        try:  # over the wire: lightkube's httpx costs several times its CPU (issue 19)
            return await self.wire.request("GET", object_path(
                key.api_version, api_info(resource).plural, key.namespace, key.name))
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise

    async def _delete_owned(self, app: AppIdentity, key: o.ObjectKey) -> int:
        resource = await self._resource(key.api_version, key.kind, {})
        if resource is None:
            return 0
        current = await self._get(resource, key)
        if current is None or not o.owned_by(current, app.uid):
            return 0  # gone already, or taken over by someone else: leave it
        await ignore_missing(self.client.delete(
            resource, key.name, namespace=key.namespace, cascade=CascadeType.BACKGROUND))
        self.applied.forget(key)
        return 1

    async def _apply(self, resource: Any, key: o.ObjectKey,
                     obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply of ``obj`` (forced: the platform owns what it delivers)."""
        path = object_path(key.api_version, api_info(resource).plural, key.namespace, key.name)
        return await self.wire.request("PATCH", path, obj, content_type=APPLY_PATCH, force=True)


# What reaching a member can fail with, from either client (lightkube's httpx, the aiohttp
# wire): reported as the member being unreachable.
_UNREACHABLE = (httpx2.HTTPError, aiohttp.ClientError, TimeoutError)


def _namespace_of(key: o.ObjectKey) -> str | None:
    """The namespace ``key`` lives in (a Namespace: itself)."""
    return key.name if key.kind == "Namespace" else key.namespace
