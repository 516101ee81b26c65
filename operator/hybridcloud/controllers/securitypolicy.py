"""SecurityPolicy controller: compile each policy and keep it on every target cluster.

Watch events on SecurityPolicies and on the namespace's HybridClusters enqueue work; a pass
compiles the policy (pure, :mod:`hybridcloud.security.compiler`), checks that its target
namespaces are ones the tenant may write to on members, and server-side applies the
``ValidatingAdmissionPolicy`` + binding to every target cluster through the platform's own copy
of the member credential. A cluster that joins (or starts matching the selector) later gets it on
the pass its event triggers; ``enabled: false``, a cluster leaving the targets and deletion
(finalizer) remove the objects — only objects labelled as this policy's are ever touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx2
import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import api_info
from lightkube.generic_resource import create_global_resource
from lightkube.types import PatchType
from pydantic import ValidationError

from .. import FINALIZER, GROUP, VERSION
from ..conditions import now_rfc3339
from ..kube import objects
from ..kube.member_credentials import MemberClients, MemberCredentialError
from ..kube.resources import SecurityPolicyResource
from ..kube.tenants import TenantBook
from ..kube.wire import KubeWire
from ..models import SecurityPolicy, SecurityPolicySpec
from ..models.securitypolicy import ClusterPolicyState
from ..security import compiler, decisions
from ..security.decisions import ClusterOutcome
from .config import OperatorConfig
from .keyed import (
    ClusterBook,
    Key,
    QueuedController,
    facts_of,
    member_refusal,
    platform_member_clients,
    prime_clusters,
    track_cluster,
)
from .queue import WorkQueue

log = logging.getLogger(__name__)
FIELD_MANAGER = "hybridcloud-security-policies"
_MEMBER_TIMEOUT = 20.0

AdmissionPolicy = create_global_resource(
    "admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
    "validatingadmissionpolicies")
AdmissionPolicyBinding = create_global_resource(
    "admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
    "validatingadmissionpolicybindings")

# Problems reaching or writing a member: reported on that cluster, retried at the poll interval.
_MEMBER_TROUBLE = (ApiError, MemberCredentialError, httpx2.HTTPError, LookupError)


class ForeignObjectError(Exception):
    """An object under the policy's derived name exists and is not this policy's."""


class SecurityPolicyController(QueuedController):
    def __init__(self, client: AsyncClient, wire: KubeWire, config: OperatorConfig,
                 tenants: TenantBook) -> None:
        self.client, self.wire, self.config, self.tenants = client, wire, config, tenants
        self.bodies: dict[Key, dict[str, Any]] = {}
        self.clusters: ClusterBook = {}
        self.cluster_uids: dict[Key, str] = {}
        self._primed: set[str] = set()
        self.queue: WorkQueue[Key] = WorkQueue(self.reconcile, workers=config.workers,
                                            name="securitypolicy")
        self.members: MemberClients[AsyncClient] = platform_member_clients(
            client, config.member_credentials_namespace, FIELD_MANAGER, _MEMBER_TIMEOUT)

    # -- wiring --------------------------------------------------------------------------------

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = self.remember(event_type, body)
        if key is not None:
            self.queue.add(key)

    def observe_cluster(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        change = track_cluster(self.clusters, self.cluster_uids, event_type, body)
        if change is not None and change[0] != change[1]:
            self.requeue_namespace(namespace)

    async def stop(self) -> None:
        await self.queue.stop()
        await self.members.close()

    # -- one pass ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        body = self.bodies.get(key)
        if body is None:
            return None
        meta = body["metadata"]
        await self._prime(key[0])
        if meta.get("deletionTimestamp"):
            return await self._finalize(key, body)
        if FINALIZER not in (meta.get("finalizers") or []):
            body = self._store(key, await objects.add_finalizer(
                self.wire, SecurityPolicyResource, body, FINALIZER))
        generation = int(meta.get("generation", 1))
        name = compiler.member_object_name(*key)
        previous = body.get("status") or {}
        known = {c["cluster"] for c in previous.get("clusters") or []}
        try:
            spec = SecurityPolicySpec.model_validate(body["spec"])
        except ValidationError as exc:
            why = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                            for e in exc.errors())
            return await self._stall(key, body, generation, (decisions.INVALID_SPEC, why), known)
        refused = decisions.namespace_refusals(self.tenants.rules_for(key[0]),
                                               spec.targets.namespaces)
        if refused:
            return await self._stall(key, body, generation,
                                     (decisions.POLICY_VIOLATION, "; ".join(refused)), known)
        facts = facts_of(self.clusters, key[0])
        targets = decisions.target_clusters(spec.targets, facts)
        compiled = compiler.compile_policy(key[0], key[1], meta["uid"], spec)
        write = self._apply if spec.enabled else self._remove
        done = await asyncio.gather(*(write(key, cluster, compiled) for cluster in targets.ready))
        outcomes = list(done)
        outcomes += [ClusterOutcome(c, ClusterPolicyState.PENDING, reason, message)
                     for c, (reason, message) in targets.waiting.items()]
        leaving = sorted(known - set(targets.ready) - set(targets.waiting))
        for cluster, left in zip(leaving, await asyncio.gather(
                *(self._remove(key, c, compiled) for c in leaving)), strict=True):
            if left.state == ClusterPolicyState.FAILED and cluster in facts:
                outcomes.append(left)  # still there: keep reporting (and retrying) it
        await self._conclude(key, body, decisions.derive_status(
            previous, generation=generation, policy_name=name, outcomes=outcomes,
            enabled=spec.enabled, now=now_rfc3339()))
        # A failed write is retried soon; a cluster that is not ready yet brings its own event.
        failed = any(o.state == ClusterPolicyState.FAILED for o in outcomes)
        return self.config.delivery_poll_interval if failed else self.config.resync_interval

    async def _stall(self, key: Key, body: dict[str, Any], generation: int,
                     why: tuple[str, str], known: set[str]) -> float:
        """Nothing of a policy that cannot be applied stays enforced anywhere."""
        name = compiler.member_object_name(*key)
        removed = await asyncio.gather(*(self._remove_by_name(key, c, name) for c in known))
        outcomes = [o for o in removed if o.state == ClusterPolicyState.FAILED]
        await self._conclude(key, body, decisions.derive_status(
            body.get("status"), generation=generation, policy_name=name, outcomes=outcomes,
            stalled=why, now=now_rfc3339()))
        return self.config.stalled_retry

    async def _finalize(self, key: Key, body: dict[str, Any]) -> float | None:
        if FINALIZER not in (body["metadata"].get("finalizers") or []):
            return None
        name = compiler.member_object_name(*key)
        facts = facts_of(self.clusters, key[0])
        clusters = {c["cluster"] for c in (body.get("status") or {}).get("clusters") or []}
        clusters |= {c for c, f in facts.items() if f.phase in decisions.USABLE_PHASES}
        results = await asyncio.gather(*(self._remove_by_name(key, c, name)
                                         for c in sorted(clusters)))
        stuck = [o for o in results if o.state == ClusterPolicyState.FAILED and
                 o.cluster in facts and facts[o.cluster].phase in decisions.USABLE_PHASES]
        if stuck:
            log.warning("policy %s/%s: removal pending on %s", *key,
                        ", ".join(f"{o.cluster} ({o.message})" for o in stuck))
            return self.config.delivery_poll_interval
        await objects.remove_finalizer(self.wire, SecurityPolicyResource, body, FINALIZER)
        self.bodies.pop(key, None)
        return None

    # -- members -------------------------------------------------------------------------------

    async def _apply(self, key: Key, cluster: str,
                     compiled: compiler.Compiled) -> ClusterOutcome:
        try:
            member = await self._member(key[0], cluster)
            for resource, obj in ((AdmissionPolicy, compiled.policy),
                                  (AdmissionPolicyBinding, compiled.binding)):
                await self._check_ours(member, resource, compiled.name, key)
                await member.patch(resource, compiled.name, obj, patch_type=PatchType.APPLY,
                                   field_manager=FIELD_MANAGER, force=True)
        except ForeignObjectError as exc:
            return ClusterOutcome(cluster, ClusterPolicyState.FAILED, "NameTaken", str(exc))
        except _MEMBER_TROUBLE as exc:
            return ClusterOutcome(cluster, ClusterPolicyState.FAILED, decisions.APPLY_FAILED,
                                  member_refusal(exc))
        return ClusterOutcome(cluster, ClusterPolicyState.APPLIED)

    async def _remove(self, key: Key, cluster: str,
                      compiled: compiler.Compiled) -> ClusterOutcome:
        return await self._remove_by_name(key, cluster, compiled.name)

    async def _remove_by_name(self, key: Key, cluster: str, name: str) -> ClusterOutcome:
        try:
            member = await self._member(key[0], cluster)
            # The binding first: without it the policy enforces nothing.
            for resource in (AdmissionPolicyBinding, AdmissionPolicy):
                try:
                    await self._check_ours(member, resource, name, key)
                except ForeignObjectError:
                    continue  # not ours: never deleted
                await objects.ignore_missing(member.delete(resource, name))
        except _MEMBER_TROUBLE as exc:
            return ClusterOutcome(cluster, ClusterPolicyState.FAILED, "RemovalFailed",
                                  member_refusal(exc))
        return ClusterOutcome(cluster, ClusterPolicyState.REMOVED)

    @staticmethod
    async def _check_ours(member: AsyncClient, resource: Any, name: str, key: Key) -> None:
        try:
            current = await member.get(resource, name)
        except ApiError as exc:
            if exc.status.code == 404:
                return
            raise
        if not compiler.owned_by(dict(current.to_dict()), *key):
            raise ForeignObjectError(f"{api_info(resource).resource.kind} {name} exists on the "
                                     "cluster and is not managed by this policy")

    async def _member(self, namespace: str, cluster: str) -> AsyncClient:
        uid = self.cluster_uids.get((namespace, cluster))
        if uid is None:
            raise LookupError(f"cluster {cluster} not found")
        return await self.members.get(namespace, cluster, uid)

    # -- edges ---------------------------------------------------------------------------------

    async def _prime(self, namespace: str) -> None:
        await prime_clusters(self.client, namespace, self._primed, self.observe_cluster)

    async def _conclude(self, key: Key, body: dict[str, Any], status: dict[str, Any]) -> None:
        current = body.get("status") or {}
        if current != status:
            patch = {**{k: None for k in current if k not in status}, **status}
            self._store(key, await objects.patch_status(
                self.wire, SecurityPolicyResource, body, patch))

    def _store(self, key: Key, body: dict[str, Any]) -> dict[str, Any]:
        if objects.newer(body, self.bodies.get(key)):
            self.bodies[key] = body
        return body



def register(controller_of: Callable[[kopf.Memo], SecurityPolicyController]) -> None:
    """Register the kopf handlers feeding ``controller_of(memo)``."""

    @kopf.on.event(GROUP, VERSION, SecurityPolicy.PLURAL)
    async def security_policy_event(event: Mapping[str, Any], memo: kopf.Memo,
                                    **_: Any) -> None:
        controller_of(memo).observe(event.get("type"), event["object"])

    # HybridCluster events reach observe_cluster through hybridcluster.register's one handler.
