"""HybridCluster controller: watch events → work queue → one reconcile pass per key.

The kopf handler only records the latest object and enqueues its key. A pass reads the cached
object, makes sure our finalizer is present (before any cloud write), asks the provider what
exists, lets the pure :func:`hybridcloud.reconcile.cluster.decide` choose one action and the
status, performs the action, observes again, and writes the status only if it changed. The
provider-side name is deterministic (name + uid), so a crash between a create and its status
write finds the same cluster again rather than creating a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import kopf
from lightkube import AsyncClient
from pydantic import ValidationError

from .. import FINALIZER, GROUP, VERSION
from ..annotations import is_paused
from ..conditions import now_rfc3339
from ..events.transitions import recorded
from ..feed import Feed
from ..kube import objects
from ..kube.member_credentials import tenant_secret_name
from ..kube.resources import HybridClusterResource
from ..kube.tenants import TenantBook
from ..kube.wire import KubeWire
from ..models import HybridCluster, HybridClusterSpec
from ..observability.operator_metrics import timed_provider_call
from ..providers.base import (
    CloudProvider,
    ClusterSpec,
    ClusterState,
    ObservedCluster,
    PermanentError,
    ProviderError,
    TransientError,
    answers_without_blocking,
)
from ..providers.registry import ProviderRegistry
from ..reconcile import cluster as logic
from ..reconcile import tenancy
from ..reconcile.credentials import next_pass
from .announce import announce
from .cloud_credentials import CloudCredentials
from .config import OperatorConfig
from .keyed import Bodies, QueuedController
from .kubeconfigs import KubeconfigKeeper
from .queue import WorkQueue

log = logging.getLogger(__name__)
Key = tuple[str, str]
T = TypeVar("T")


@dataclass(frozen=True)
class _Seen:
    """What one step observed: the view, the provider-side spec, and the provider's report
    (or the error asking it)."""

    view: logic.ClusterView
    desired: ClusterSpec
    provider: CloudProvider | None = None
    observed: ObservedCluster | None = None
    error: ProviderError | None = None


class ClusterController(QueuedController):
    def __init__(self, client: AsyncClient, wire: KubeWire, config: OperatorConfig, feed: Feed,
                 registry: ProviderRegistry, tenants: TenantBook) -> None:
        self.client = client
        self.tenants = tenants
        self.wire = wire
        self.config = config
        self.feed = feed
        self.registry = registry
        self.timing = logic.Timing(config.poll_interval, config.resync_interval,
                                   config.stalled_retry)
        self.bodies: Bodies = Bodies()
        self.queue: WorkQueue[Key] = WorkQueue(self.reconcile, workers=config.workers,
                                               name="hybridcluster")
        self._threads = ThreadPoolExecutor(config.provider_threads, "provider")
        self.kubeconfigs = KubeconfigKeeper(client, config, feed)
        self.credentials = CloudCredentials(client, config)
        # Lays the member health prober's verdict over every status written (controllers/health).
        self.status_overlay: Callable[[Key, Mapping[str, Any], dict[str, Any]],
                                      dict[str, Any]] | None = None

    # -- wiring --------------------------------------------------------------------------------

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.bodies.pop(key, None)
            self.kubeconfigs.forget(key)
            self.queue.forget(key)
            self._retry_quota_stalled(key[0])
            return
        released = meta.get("deletionTimestamp") and FINALIZER not in (meta.get("finalizers") or [])
        if released:
            return
        cached = self.bodies.get(key)
        if cached is not None and not objects.newer(body, cached, strictly=True):
            # The echo of our own write (its response is already cached) or a re-list: a pass
            # would find nothing new, so don't spend one. Periodic resync still catches drift.
            return
        self.bodies[key] = objects.cached_copy(body)
        self.queue.add(key)

    def _retry_quota_stalled(self, namespace: str) -> None:
        """A deleted cluster frees quota: clusters waiting for it try again now. (Without a
        quota none waits: a policy's change re-queues every cluster anyway.)"""
        limits = self.tenants.rules_for(namespace).rules.clusters
        if limits.max_clusters is None and limits.max_nodes is None:
            return
        for body in self.bodies.in_namespace(namespace):
            usage = tenancy.usage_of(body)
            if usage is not None and usage.quota_stalled:
                meta = body["metadata"]
                self.queue.add((meta["namespace"], meta["name"]))

    async def stop(self) -> None:
        await self.queue.stop()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # -- one pass ------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        body = self.bodies.get(key)
        if body is None:
            return None
        meta = body["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        if FINALIZER not in (meta.get("finalizers") or []):
            # Normally added at creation by the admission policy (hybridcloud.admission);
            # objects created without it get it here, before any cloud write.
            if deleting:
                return None
            body = await self._store(key, await objects.add_finalizer(
                self.wire, HybridClusterResource, body, FINALIZER))
        requeue, acted, intended = await self._step(key, body, act=True)
        body = self.bodies.get(key)
        if acted and body is not None:
            # Look at the provider's answer at once (one more observation, never another
            # action): fast providers converge in this pass instead of after a poll interval.
            requeue, _, _ = await self._step(key, body, act=False, assumed=intended)
        return requeue

    async def _step(self, key: Key, body: dict[str, Any], *, act: bool,
                    assumed: dict[str, Any] | None = None,
                    ) -> tuple[float | None, bool, dict[str, Any] | None]:
        """Observe, decide, act (if ``act``) and release: one step of a pass.

        The status that goes with an action is written only if the action is still running
        after ``status_grace`` seconds: a quick action is followed at once by an observation
        whose status supersedes it, so writing both would cost a write and a watch event for
        a state nobody could see. ``assumed`` is such an unwritten status; the decision treats
        it as the previous one (transitions, condition times) while writes diff against what
        is stored.

        Returns the requeue delay, whether an action was performed successfully, and the
        status that was decided but not written (or None)."""
        try:
            view = _view(body, assumed)
        except ValidationError as exc:
            log.error("%s/%s has an invalid spec: %s", *key, exc)
            return None, False, None
        refusal = self._tenant_refusal(view, body)
        if refusal is not None and not view.deleting:
            # Before any cloud call: the tenant's rules refuse this credential, account or size.
            failure = logic.failed(view, PermanentError(refusal.message, reason=refusal.reason),
                                   timing=self.timing)
            await self._write_status(key, body, recorded(view.status, failure.status,
                                                         failure.transition, now=now_rfc3339()))
            self._announce(view, failure.transition, failure.status)
            return failure.requeue_after, False, None
        seen = await self._observe(view, skip_provider=refusal is not None)
        decision, status, requeue = await self._decide(key, body, seen)
        self._announce(seen.view, decision.transition, status)
        acting = act and decision.action is not None and seen.provider is not None
        if acting:
            body, action_failed = await self._act(key, body, seen, decision, status)
            if action_failed is not None:
                return action_failed.requeue_after, False, None
        else:
            body = await self._write_status(key, body, status)
        if decision.release_finalizer:
            await self._release(key, seen.view, body)
            return None, False, None
        unwritten = status if acting and (body.get("status") or {}) != status else None
        return requeue, acting, unwritten

    async def _observe(self, view: logic.ClusterView, *, skip_provider: bool) -> _Seen:
        """What the provider reports (and the version a new cluster gets). ``skip_provider``:
        a cluster whose credentials were refused before it reached a cloud is being deleted;
        there is nothing to clean up there, and no reason to call one now."""
        desired = logic.cluster_spec(view)
        if skip_provider and not view.status.get("providerID"):
            return _Seen(view, desired)
        try:
            provider = await self._provider(view)
            observed = await self._call(provider.describe, desired)
            if logic.needs_default_version(view):
                # No version asked for: the provider's default for a new cluster (asked once:
                # the decision records it in status.version), or what an existing one runs.
                chosen = observed.version if observed is not None and observed.version \
                    else await self._call(provider.default_version, desired)
                view = dataclasses.replace(view, default_version=chosen)
                desired = logic.cluster_spec(view)
        except ProviderError as exc:
            return _Seen(view, desired, error=exc)
        return _Seen(view, desired, provider, observed)

    async def _decide(self, key: Key, body: Mapping[str, Any], seen: _Seen,
                      ) -> tuple[logic.Decision, dict[str, Any], float | None]:
        """The pure decision, then the member credential of a cluster that serves (its refresh
        may bring the next pass forward). Returns the decision, its status and requeue."""
        view, observed = seen.view, seen.observed
        decision = logic.failed(view, seen.error, timing=self.timing) if seen.error \
            else logic.decide(view, observed, timing=self.timing)
        status = recorded(view.status, decision.status, decision.transition, now=now_rfc3339())
        requeue = decision.requeue_after
        if seen.provider and observed and observed.endpoint and not view.deleting \
                and observed.state in (ClusterState.ACTIVE, ClusterState.UPDATING):
            try:
                refresh_in = await self.kubeconfigs.ensure(
                    key, body, partial(self._call, seen.provider.kubeconfig, seen.desired,
                                       observed))
            except PermanentError as exc:  # e.g. a kubeconfig the platform refuses to load
                decision = logic.failed(view, exc, observed, timing=self.timing)
                status = recorded(view.status, decision.status, decision.transition,
                                  now=now_rfc3339())
                requeue = decision.requeue_after
            else:
                status = {**status, "kubeconfigSecret": tenant_secret_name(view.name)}
                requeue = next_pass(requeue, refresh_in)
        return decision, status, requeue

    async def _act(self, key: Key, body: dict[str, Any], seen: _Seen, decision: logic.Decision,
                   status: dict[str, Any]) -> tuple[dict[str, Any], logic.Decision | None]:
        """Perform the decided action; ``status`` is written only once it outlives the grace.
        Returns the stored object and, when the action failed, the failure decision."""
        assert seen.provider is not None and decision.action is not None
        action = asyncio.ensure_future(self._perform(seen.provider, seen.desired,
                                                     decision.action))
        done, _ = await asyncio.wait({action}, timeout=self.config.status_grace)
        if not done:
            try:
                body = await self._write_status(key, body, status)
            except Exception:
                # Never leave a cloud call running unobserved behind a failed pass: the retry
                # would start a second one alongside it.
                with contextlib.suppress(Exception):
                    await action
                raise
        try:
            await action
        except ProviderError as exc:
            # Decided against the intended status, whether or not it was written.
            failure = logic.failed(_view(body, status), exc, seen.observed, timing=self.timing)
            body = await self._write_status(key, body, recorded(
                status, failure.status, failure.transition, now=now_rfc3339()))
            self._announce(seen.view, failure.transition, failure.status)
            return body, failure
        return body, None

    async def _release(self, key: Key, view: logic.ClusterView, body: dict[str, Any]) -> None:
        """Deletion finished (or orphaned): drop the platform credential and the finalizer."""
        await self.kubeconfigs.delete(view.uid)
        await objects.remove_finalizer(self.wire, HybridClusterResource, body, FINALIZER)
        # Forget it now: watch events still in flight carry the old finalizer list.
        self.bodies.pop(key, None)
        self.kubeconfigs.forget(key)

    def _tenant_refusal(self, view: logic.ClusterView,
                        body: Mapping[str, Any]) -> tenancy.Refusal | None:
        """What the namespace's TenantPolicy (or the defaults) refuses of this cluster."""
        # Read only when a quota applies: the namespace's clusters, not a copy of the fleet.
        namespace_clusters = _later(lambda: self.bodies.in_namespace(view.namespace))
        return tenancy.cluster_refusal(self.tenants.rules_for(view.namespace), view.spec,
                                       {**body, "status": view.status}, namespace_clusters)

    # -- edges ---------------------------------------------------------------------------------

    async def _call(self, func: Callable[..., T], *args: Any) -> T:
        timed = timed_provider_call(func)
        try:
            if answers_without_blocking(getattr(func, "__self__", None)):
                return timed(*args)
            return await asyncio.get_running_loop().run_in_executor(self._threads, timed, *args)
        except ProviderError:
            raise
        except Exception as exc:  # an SDK surprise: retry, but say what happened
            log.exception("provider call %s failed", getattr(func, "__name__", func))
            raise TransientError(f"unexpected provider error ({type(exc).__name__})") from exc

    async def _perform(self, provider: CloudProvider, desired: ClusterSpec,
                       action: logic.Action) -> None:
        kind = logic.ActionKind
        if action.kind == kind.CREATE:
            await self._call(provider.create, desired)
        elif action.kind == kind.DELETE:
            await self._call(provider.delete, desired)
        elif action.kind == kind.UPGRADE:
            await self._call(provider.upgrade, desired, action.version)
        elif action.kind == kind.CREATE_NODE_GROUP:
            await self._call(provider.create_node_group, desired, action.node_group)
        elif action.kind == kind.UPDATE_NODE_GROUP:
            await self._call(provider.update_node_group, desired, action.node_group)
        elif action.kind == kind.DELETE_NODE_GROUP:
            await self._call(provider.delete_node_group, desired, action.node_group_name)

    async def _provider(self, view: logic.ClusterView) -> CloudProvider:
        provider = str(view.spec.provider)
        credentials = {} if provider == "local" else await self.credentials.load(view)
        found = self.registry.cached(provider, credentials)
        return found if found is not None else await self._call(self.registry.get, provider,
                                                                credentials)

    async def _write_status(self, key: Key, body: dict[str, Any],
                            status: dict[str, Any]) -> dict[str, Any]:
        if self.status_overlay is not None:
            status = self.status_overlay(key, body, status)
        updated = await objects.replace_status(self.wire, HybridClusterResource, body, status)
        return body if updated is None else await self._store(key, updated)

    async def _store(self, key: Key, body: dict[str, Any]) -> dict[str, Any]:
        cached = self.bodies.get(key)
        if objects.newer(body, cached):
            body = self.bodies[key] = objects.cached_copy(body)
            # Our write's response may carry a user's change made meanwhile; its own watch
            # event will be skipped as "not newer", so schedule the pass here instead.
            if cached is not None and _user_intent(body) != _user_intent(cached):
                self.queue.add(key)
        return body

    def _announce(self, view: logic.ClusterView, transition: str | None,
                  status: Mapping[str, Any]) -> None:
        if transition is None:
            return
        meta = {"namespace": view.namespace, "name": view.name, "uid": view.uid}
        announce(self.feed, HybridCluster.KIND, meta, transition, status, {
            "cluster_id": view.name, "name": view.name, "provider": str(view.spec.provider)})


def _user_intent(body: Mapping[str, Any]) -> tuple[Any, ...]:
    meta = body["metadata"]
    return (meta.get("generation"), meta.get("deletionTimestamp"), meta.get("annotations"),
            meta.get("labels"))


def _view(body: Mapping[str, Any], status: Mapping[str, Any] | None = None) -> logic.ClusterView:
    meta = body["metadata"]
    return logic.ClusterView(
        name=meta["name"], namespace=meta["namespace"], uid=meta["uid"],
        generation=int(meta.get("generation", 1)),
        spec=HybridClusterSpec.model_validate(body["spec"]),
        status=status if status is not None else body.get("status") or {},
        deleting=bool(meta.get("deletionTimestamp")),
        paused=is_paused(meta.get("annotations")))


Observer = Callable[[str | None, Mapping[str, Any]], None]


def register(observers_of: Callable[[kopf.Memo], Sequence[Observer]]) -> None:
    """Register the one kopf handler of HybridCluster events; it hands each event to every
    observer of ``observers_of(memo)`` (this controller, and those that follow clusters: the
    applications', the security policies', log shipping). One handler, not one per observer:
    kopf's cost per handler call (its kwargs, logger and context per call) was a third of the
    operator's time converging a fleet, four times over (issue 19's 20k-cluster profile)."""

    @kopf.on.event(GROUP, VERSION, HybridCluster.PLURAL)
    async def hybridcluster_event(event: Mapping[str, Any], memo: kopf.Memo, **_: Any) -> None:
        # async on purpose: kopf runs sync handlers in threads, and the queues are loop-bound.
        kind, body = event.get("type"), event["object"]
        for observe in observers_of(memo):
            try:
                observe(kind, body)
            except Exception:  # one observer's bug must not keep the event from the others
                log.exception("observing HybridCluster %s/%s failed",
                              body["metadata"].get("namespace"), body["metadata"].get("name"))


def _later(read: Callable[[], Iterable[T]]) -> Iterator[T]:
    """The items ``read()`` returns, read when first iterated (never, when nobody asks)."""
    yield from read()
