"""MultiClusterApplication controller: watch events → work queue → one delivery pass per app.

Two kopf handlers feed it: application events cache the body and enqueue the app; HybridCluster
events keep the cluster facts placement needs (phase, region, provider, labels) and re-enqueue
the namespace's apps when those facts change, so a failed or removed cluster triggers failover.

A pass: finalizer → placement (pure) → resolve the git revision (cached for ``git_interval``,
forced by the ``platform.example.com/refresh`` annotation) → render per target → server-side
apply to every target cluster in parallel → remove the app from clusters it left → status (pure)
→ domain event. Any problem before applying (spec, source, render, placement, objects the
tenant's rules refuse on any target) applies nothing, so what runs stays untouched. A periodic
resync gives drift detection and self-heal.

What a pass may write to members comes from :func:`logic.delivery_mode`: while paused (or with
automated sync off and no sync requested) it only observes — no apply, prune, self-heal or
removal, and deletion waits — and reports what differs. A requested sync is recorded in the
``platform.example.com/synced`` annotation once carried out.

Writing the outcome back (status, the ``synced`` annotation, the domain event of a transition)
lives in :mod:`.app_status`; the git revision and rendering in :mod:`.app_sources`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from pydantic import ValidationError

from .. import FINALIZER, GROUP, VERSION
from ..delivery.errors import ClusterNotKnownError, DeliveryError, TransientDeliveryError
from ..delivery.git import SourceError
from ..delivery.githooks import tracked_by
from ..delivery.gitpushes import RecordedPush
from ..delivery.member import AppIdentity, MemberCluster, MemberUnreachableError
from ..delivery.render import RenderError
from ..feed import Feed
from ..kube import objects
from ..kube.member_credentials import MemberClients, MemberCredentialError
from ..kube.resources import MultiClusterApplicationResource
from ..kube.tenants import TenantBook
from ..kube.wire import KubeWire
from ..models import MultiClusterApplication
from ..models.application import DeploymentState, Health, HybridApplicationSpec
from ..reconcile import application as logic
from ..reconcile import application_outcome as decide
from ..reconcile import health as member_health
from ..reconcile import tenancy
from ..reconcile.placement import Target, place
from .app_sources import REFRESH_ANNOTATION as REFRESH_ANNOTATION
from .app_sources import ApplicationSources, FetchSlotsBusyError, render_targets
from .app_status import ApplicationStatusWriter
from .config import OperatorConfig
from .keyed import ClusterBook, QueuedController, facts_of, prime_clusters, track_cluster
from .member_loss import MemberLoss
from .queue import WorkQueue

log = logging.getLogger(__name__)
Key = tuple[str, str]
# Seconds a member's client is used before its platform credential is read again (see
# MemberClients): one read per member per burst of passes, not two per pass and target.
MEMBER_CREDENTIAL_RECHECK = 10.0
# Seconds a member's report of a change waits for the reports of the other members before the
# application's pass: a new application on 3 members made 3 more passes for its Deployments'
# first status, 2 of them with nothing new (issue 19's delivery-at-scale profile).
MEMBER_EVENTS_GATHERED = 0.5


class ApplicationController(QueuedController, ApplicationStatusWriter):
    def __init__(self, client: AsyncClient, wire: KubeWire, config: OperatorConfig,
                 feed: Feed, tenants: TenantBook) -> None:
        self.client = client
        self.wire = wire
        self.config = config
        self.feed = feed
        self.tenants = tenants
        self.bodies: dict[Key, dict[str, Any]] = {}
        self.clusters: ClusterBook = {}
        self._primed: set[str] = set()
        self.queue: WorkQueue[Key] = WorkQueue(self.reconcile,
                                               workers=config.application_workers,
                                               name="multiclusterapplication")
        self.cluster_uids: dict[Key, str] = {}  # (namespace, name) → HybridCluster uid
        self._uids: dict[str, Key] = {}  # application uid → key, for member watch events
        self.members: MemberClients[MemberCluster] = MemberClients(
            client, config.member_credentials_namespace,
            lambda name, config: MemberCluster(name, config, self._changed_on_member),
            _close_member, recheck_after=MEMBER_CREDENTIAL_RECHECK)
        self.sources = ApplicationSources(client, config, retry=self.queue.add)
        self.timing = decide.Timing(poll=config.delivery_poll_interval,
                                    resync=config.resync_interval,
                                    rollout=config.rollout_check_interval)
        self.member_loss = MemberLoss()  # ends member calls when the member is found unhealthy

    # -- wiring --------------------------------------------------------------------------------

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self._forget(key)
            return
        if meta.get("deletionTimestamp") and FINALIZER not in (meta.get("finalizers") or []):
            return
        cached = self.bodies.get(key)
        if cached is not None and not objects.newer(body, cached, strictly=True):
            # The echo of our own write (its response is already cached) or a re-list: a pass
            # would find nothing new and only repeat its GETs on every member. The resync the
            # last pass scheduled still catches drift.
            return
        self.bodies[key] = dict(body)
        self.sources.observe(key, body)  # when a refresh request arrived (issue 19)
        self._uids[meta["uid"]] = key
        self.queue.add(key)

    def pushed(self, record: RecordedPush) -> None:
        """A push the Git webhook recorded (``delivery/gitpushes.py``): every application that
        tracks it, in any namespace, re-resolves its revision now, all from one moment."""
        seen_at = time.monotonic()
        for key, body in self.bodies.items():
            if tracked_by(record.push, body):
                self.sources.push_arrived(key, record.token, seen_at)
                self.queue.add(key)

    def _changed_on_member(self, uid: str) -> None:
        """Someone changed (or deleted) one of the app's objects on a member: drift to heal,
        or a workload's health moving. Its pass runs soon, not at the next resync: after
        ``MEMBER_EVENTS_GATHERED`` seconds, so the events of one change on every member (each
        member's controllers report a new Deployment's status) make one pass, not one each."""
        key = self._uids.get(uid)
        if key is not None and key in self.bodies:
            self.queue.add(key, MEMBER_EVENTS_GATHERED)

    def observe_cluster(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        change = track_cluster(self.clusters, self.cluster_uids, event_type, body)
        if change is None:
            return
        before, after = change
        if after is not None and after.unhealthy_since is not None:
            self.member_loss.lost(namespace, name)
        else:
            self.member_loss.found(namespace, name)
        if before != after:
            for key in self.bodies:
                if key[0] == namespace:
                    self.queue.add(key)

    async def stop(self) -> None:
        await self.queue.stop()
        await self.members.close()

    def _forget(self, key: Key) -> None:
        body = self.bodies.pop(key, None)
        if body is not None:
            self._uids.pop(body["metadata"].get("uid", ""), None)
        self.sources.forget(key)
        self.queue.forget(key)

    # -- one pass ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        body = self.bodies.get(key)
        if body is None:
            return None
        meta = body["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            if meta.get("deletionTimestamp"):
                return None
            body = self._store(key, await objects.add_finalizer(
                self.wire, MultiClusterApplicationResource, body, FINALIZER))
        await self._prime(key[0])
        app = AppIdentity(key[0], key[1], meta["uid"])
        if meta.get("deletionTimestamp"):
            return await self._finalize(key, body, app)
        generation = int(meta.get("generation", 1))
        previous = body.get("status") or {}
        paused = logic.is_paused(meta.get("annotations"))
        try:
            spec = HybridApplicationSpec.model_validate(body["spec"])
        except ValidationError as exc:
            message = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                for e in exc.errors())
            await self._conclude(key, body, logic.Observation(
                generation, spec_error=message, outcomes=logic.carried(previous),
                paused=paused))
            return None
        mode = logic.delivery_mode(meta.get("annotations"),
                                   automated=spec.sync_policy.automated)
        facts = facts_of(self.clusters, key[0])
        deployed_on = {d["cluster"]: tuple(d["components"]) if d.get("components") is not None
                       else None for d in previous.get("deployments") or []}
        # A cluster the app is being removed from (e.g. a lost member whose removal waits for
        # it to answer) is not a placement to keep: preferring it would pull the app back.
        current = {c: held for c, held in deployed_on.items()
                   if _state_of(previous, c) != DeploymentState.REMOVING}
        placement = place(spec, facts, current, now=time.time())
        # Members the health prober finds unhealthy are not contacted (a frozen apiserver would
        # hold the pass for a timeout per call); their deployments are reported degraded.
        unhealthy = {name for name, f in facts.items() if f.unhealthy_since is not None}
        reachable = [t for t in placement.targets if t.cluster not in unhealthy]
        try:
            revision = await self.sources.resolve(key, body, spec)
        except FetchSlotsBusyError:
            # The namespace's other fetches are still running: come back when a slot frees
            # (ApplicationSources.retry) rather than holding a worker while they finish; the
            # delay is only a fallback.
            return min(1.0, self.config.delivery_poll_interval)
        except SourceError as exc:
            transient = isinstance(exc, TransientDeliveryError)
            await self._conclude(key, body, logic.Observation(
                generation, source_error=(exc.reason, str(exc)), source_transient=transient,
                placement=placement, outcomes=logic.carried(previous), paused=paused))
            return self.sources.retry_after(key) if transient else self.config.stalled_retry
        observation = logic.Observation(generation, revision=revision, placement=placement,
                                        outcomes=logic.carried(previous), paused=paused)
        if not placement.ready:
            self.sources.succeeded(key)
            await self._conclude(key, body, observation)
            return min(self.config.resync_interval,
                       placement.recheck_after or self.config.resync_interval)
        try:
            rendered = await render_targets(
                lambda target: self.sources.render(key, spec, revision, target),
                placement.targets)
        except (RenderError, SourceError) as exc:
            # Export failures keep their reason (LimitExceeded, InvalidSource, PathNotFound…).
            source_error = (exc.reason, str(exc)) if isinstance(exc, SourceError) else None
            transient = isinstance(exc, TransientDeliveryError)
            await self._conclude(key, body, logic.Observation(
                generation, revision=revision, placement=placement,
                source_error=source_error, source_transient=transient,
                render_error=None if source_error else str(exc),
                outcomes=logic.carried(previous), paused=paused))
            return self.sources.retry_after(key) if transient else self.config.stalled_retry
        self.sources.succeeded(key)  # fetched and rendered: the backoff starts over
        rules = self.tenants.rules_for(key[0])
        refused = await self._refusals(app, spec, reachable, rendered, rules)
        if refused:
            await self._conclude(key, body, logic.Observation(
                generation, revision=revision, placement=placement,
                policy_error="; ".join(refused), outcomes=logic.carried(previous),
                paused=paused))
            return self.config.stalled_retry
        outcomes = [*await asyncio.gather(*(
            self._deliver(app, spec, target, rendered[target.cluster], revision, previous,
                          mode, rules) for target in reachable)),
            *member_health.unreachable_outcomes(
                [t.cluster for t in placement.targets if t.cluster in unhealthy], previous)]
        leaving = [c for c in deployed_on if c not in placement.clusters]
        notes: dict[str, str] = {}
        if mode.writes != logic.Writes.NONE:
            notes = {c: n for c, n in zip(leaving, await asyncio.gather(*(
                self._remove(app, c) for c in leaving)), strict=True) if n is not None}
        removing = [c for c in leaving if c in notes or mode.writes == logic.Writes.NONE]
        if mode.sync_request is not None:
            body = await self._record_sync(key, body, mode.sync_request)
        await self._conclude(key, body, logic.Observation(
            generation, revision=revision, placement=placement, outcomes=outcomes,
            removing=removing, removal_notes=notes, paused=mode.paused, hold=mode.hold))
        return decide.requeue_after(outcomes, removing, mode.hold, self.timing,
                                    unhealthy=unhealthy, recheck_after=placement.recheck_after)

    async def _finalize(self, key: Key, body: dict[str, Any], app: AppIdentity) -> float | None:
        previous = body.get("status") or {}
        clusters = {d["cluster"] for d in previous.get("deployments") or []}
        clusters |= set(previous.get("placedClusters") or [])
        generation = int(body["metadata"].get("generation", 1))
        if logic.is_paused(body["metadata"].get("annotations")) and clusters:
            # Removing the app is a write like any other: it waits for the pause to end.
            await self._conclude(key, body, logic.Observation(
                generation, deleting=True, removing=sorted(clusters), paused=True,
                hold=logic.PAUSED_MESSAGE, outcomes=logic.carried(previous)))
            return self.config.resync_interval
        pending = dict(zip(sorted(clusters), await asyncio.gather(*(
            self._remove(app, c) for c in sorted(clusters))), strict=True))
        remaining = {c: note for c, note in pending.items() if note is not None}
        if remaining:
            await self._conclude(key, body, logic.Observation(
                generation, deleting=True, removing=list(remaining), removal_notes=remaining,
                outcomes=[o for o in logic.carried(previous) if o.cluster in remaining]))
            return self.config.delivery_poll_interval
        await objects.remove_finalizer(self.wire, MultiClusterApplicationResource, body,
                                       FINALIZER)
        self._forget(key)
        return None

    # -- stages ----------------------------------------------------------------------------------

    async def _refusals(self, app: AppIdentity, spec: HybridApplicationSpec,
                        targets: Sequence[Target], rendered: Mapping[str, list[Any]],
                        rules: tenancy.Governing) -> list[str]:
        """What the tenant's rules refuse on any target: checked on all of them before anything
        is written anywhere. An unreachable member is skipped here; its sync checks again."""
        refused: list[str] = []
        for target in targets:
            try:
                member = await self._member(app.namespace, target.cluster)
                checking = member.refusals(
                    app, rendered[target.cluster],
                    target_namespace=spec.target_namespace or app.namespace, rules=rules)
                found = await self.member_loss.guard(app.namespace, target.cluster, checking)
            except _MEMBER_TROUBLE:
                continue
            refused += [f"cluster {target.cluster}: {why}" for why in found]
        return refused

    async def _deliver(self, app: AppIdentity, spec: HybridApplicationSpec, target: Target,
                       manifests: list[Any], revision: str, previous: Mapping[str, Any],
                       mode: logic.DeliveryMode, rules: tenancy.Governing,
                       ) -> logic.ClusterOutcome:
        old: Mapping[str, Any] = next((d for d in previous.get("deployments") or []
                    if d.get("cluster") == target.cluster), {})
        try:
            member = await self._member(app.namespace, target.cluster)
            result = await self.member_loss.guard(app.namespace, target.cluster, member.sync(
                app, manifests, target_namespace=spec.target_namespace or app.namespace,
                prune=spec.sync_policy.prune, self_heal=spec.sync_policy.self_heal,
                rules=rules, writes=mode.writes, applied_digest=old.get("manifestDigest")))
        except _MEMBER_TROUBLE as exc:
            return logic.ClusterOutcome(target.cluster, DeploymentState.FAILED, Health.UNKNOWN,
                                        target.components, old.get("revision"),
                                        old.get("resources"), _problem(exc),
                                        digest=old.get("manifestDigest"))
        outcome = decide.outcome(target.cluster, target.components, result, revision,
                                 old.get("revision"), mode.hold)
        if result.healed and outcome.state == DeploymentState.SYNCED:
            log.info("cluster %s: reverted drift on %s", target.cluster, ", ".join(result.healed))
        return outcome

    async def _remove(self, app: AppIdentity, cluster: str) -> str | None:
        """Remove the app from ``cluster``; while that is still pending, returns why."""
        facts = self.clusters.get(app.namespace, {}).get(cluster)
        if facts is not None and facts[1].unhealthy_since is not None:
            return member_health.REMOVAL_WAITS
        try:
            member = await self._member(app.namespace, cluster)
            removed = await member.remove(app)
            log.info("removed %s (%d objects) from cluster %s", app.display, removed, cluster)
            return None
        except _MEMBER_TROUBLE as exc:
            pending = decide.removal_pending(facts[1] if facts else None, _problem(exc))
            if pending is None:
                log.warning("cannot remove %s from unavailable cluster %s: %s", app.display,
                            cluster, exc)
            return pending

    # -- edges ---------------------------------------------------------------------------------

    async def _prime(self, namespace: str) -> None:
        await prime_clusters(self.client, namespace, self._primed, self.observe_cluster)

    async def _member(self, namespace: str, cluster: str) -> MemberCluster:
        """The member's client, from the platform's copy of its credential only (never the
        tenant-writable ``<cluster>-kubeconfig``)."""
        uid = self.cluster_uids.get((namespace, cluster))
        if uid is None:
            raise ClusterNotKnownError(f"cluster {cluster} not found")
        return await self.members.get(namespace, cluster, uid)


# What a member (or reaching it) can go wrong with and is reported per cluster; anything else
# is a bug and reaches the work queue (logged with its traceback, retried with backoff).
_MEMBER_TROUBLE = (MemberUnreachableError, ApiError, MemberCredentialError, DeliveryError)


def _problem(exc: Exception) -> str:
    """What went wrong with a member, as users see it (the apiserver's message if it sent one)."""
    return str(exc.status.message or exc) if isinstance(exc, ApiError) else str(exc)


def _state_of(status: Mapping[str, Any], cluster: str) -> str | None:
    return next((d.get("status") for d in status.get("deployments") or []
                 if d.get("cluster") == cluster), None)


async def _close_member(member: MemberCluster) -> None:
    await member.close()


def register(controller_of: Callable[[kopf.Memo], ApplicationController]) -> None:
    """Register the kopf handler feeding ``controller_of(memo)``."""

    @kopf.on.event(GROUP, VERSION, MultiClusterApplication.PLURAL)
    async def application_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
        controller_of(memo).observe(event.get("type"), event["object"])
    # HybridCluster events reach observe_cluster through hybridcluster.register's one handler.
