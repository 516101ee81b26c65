"""Member health prober: notices a member that stops answering (or loses every Ready node).

Every ``health_probe_interval`` seconds each Active (or Updating) member is probed once —
``/readyz`` and its nodes' readiness over one kept-alive connection per member
(:mod:`hybridcloud.kube.member_probe`) — each at a random offset within the interval (so a fleet
is not probed in bursts) and at most ``health_probe_concurrency`` at a time. The node list is
asked at most every ``health_nodes_interval`` seconds per member (and on every probe while the
member is failing or unhealthy); between listings the last counts stand. The pure
:func:`hybridcloud.reconcile.health.judge` turns the results into a verdict with a grace period
and recovery hysteresis.

At fleet scale the prober may not manage every member each interval. It measures its own
throughput (probes per second over the last ``THROUGHPUT_INTERVALS`` intervals) and the
resulting round time, and judges with a timing whose ``unhealthy_after`` shrinks by what the
longer round costs, so a verdict still comes within the grace period; the bound
(``Timing.detection_bound``) is exported as
``hybridcloud_member_health_detection_bound_seconds``, and a warning is logged when the fleet
is too large for even one failed probe to be seen within the grace period.

Only a change of verdict does anything. The verdict is written at once with a JSON patch of
just the Ready condition and ``nodes.ready`` (a full cluster pass may itself wait on the member
through the provider), the cluster controller is asked for a pass and keeps the verdict in
every status it writes (:meth:`status_overlay`), and ``cluster.unreachable`` /
``cluster.recovered`` go to the feed (hence a Kubernetes Event). A healthy fleet's probes write
nothing. The cloud side is never touched: an unreachable member is neither deleted nor
recreated.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

import aiohttp
import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from prometheus_client import Gauge

from .. import API_VERSION
from ..feed import DomainEvent, Feed, ObjectRef
from ..kube import objects
from ..kube.member_credentials import MemberClients, MemberCredentialError
from ..kube.member_probe import MemberProbe
from ..kube.resources import HybridClusterResource
from ..models import HybridCluster
from ..reconcile import health as logic
from .config import OperatorConfig
from .hybridcluster import ClusterController

log = logging.getLogger(__name__)
Key = tuple[str, str]
# The platform copy of a credential is re-read this often (and after any failed probe), not
# on every probe: a probe round must not cost a management-cluster read per member.
_CREDENTIAL_RECHECK = 60.0
NODES_EVERY = 3  # at most one probe in this many lists the nodes (unless the member fails)
# The throughput that sets the round is measured over this many probe intervals, not one: a
# single interval swings with the node listings (one probe in three) and with the machine, and at
# 5,000 members a one-interval measure read a 9 s round as 25 s. A real slowdown still shows
# within this window.
THROUGHPUT_INTERVALS = 6
DETECTION_BOUND = Gauge(
    "hybridcloud_member_health_detection_bound_seconds",
    "Longest time from a member failing to its Ready=False verdict at the prober's measured "
    "throughput (the grace period while the fleet's probe round fits in it).")
ROUND_SECONDS = Gauge("hybridcloud_member_health_round_seconds",
                      "Seconds one probe round of every member takes at the measured throughput.")


class MemberHealthProber:
    def __init__(self, client: AsyncClient, config: OperatorConfig, feed: Feed,
                 clusters: ClusterController) -> None:
        self.clusters = clusters
        self.feed = feed
        self.timing = logic.Timing(interval=config.health_probe_interval,
                                   timeout=config.health_probe_timeout,
                                   grace=config.health_grace_period,
                                   recover_after=config.health_recover_after)
        self.nodes_interval = config.health_nodes_interval
        # key → (listed at, total, ready, /readyz-only probes since)
        self._nodes: dict[Key, tuple[float, int, int, int]] = {}
        self._completed = 0  # probes finished, ever (the throughput window takes differences)
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, _completed)
        self._overloaded = False
        self.members: MemberClients[MemberProbe] = MemberClients(
            client, config.member_credentials_namespace,
            partial(_build_probe, timeout=config.health_probe_timeout), _close_probe)
        self._slots = asyncio.Semaphore(config.health_probe_concurrency)
        self._states: dict[Key, tuple[str, logic.MemberHealth]] = {}  # key → (uid, health)
        self._probes: dict[Key, tuple[float, MemberProbe]] = {}  # key → (fetched at, probe)
        self._task: asyncio.Task[None] | None = None
        self._loops: dict[Key, tuple[str, asyncio.Task[None]]] = {}  # key → (uid, its loop)
        self.probes_sent = 0  # probes started (each is /readyz plus one node list per page)

    # -- what the cluster controller asks ----------------------------------------------------------

    def status_overlay(self, key: Key, body: Mapping[str, Any],
                       status: Mapping[str, Any]) -> dict[str, Any]:
        """``status`` with this member's unhealthy verdict (if any) laid over it."""
        meta = body["metadata"]
        known = self._states.get(key)
        verdict = known[1].verdict if known is not None and known[0] == meta["uid"] else None
        return logic.overlay(status, verdict, int(meta.get("generation", 1)))

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="member-health")

    async def stop(self) -> None:
        tasks = [task for _, task in self._loops.values()]
        if self._task is not None:
            tasks.append(self._task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
        await self.members.close()

    async def _run(self) -> None:
        """Keep one probing loop per member, following the cluster controller's cache; each
        interval, measure the throughput and adapt the timing to it."""
        joined = True  # members started probing in the last interval: their first probes open
        while True:    # connections and fetch credentials, not what a round costs
            rate = self._measure(time.monotonic(), restart=joined)
            if rate is not None:
                self._adapt(len(self._loops), rate)
            members = self._members()
            joined = any(key not in self._loops for key in members)
            for key, (uid, task) in list(self._loops.items()):
                if members.get(key) != uid:
                    # Deleted, re-created or no longer Active: its verdict no longer applies.
                    task.cancel()
                    del self._loops[key]
                    self._states.pop(key, None)
                    self._probes.pop(key, None)
                    self._nodes.pop(key, None)
            for key, uid in members.items():
                if key not in self._loops:
                    self._loops[key] = (uid, asyncio.create_task(self._member_loop(key, uid)))
            await asyncio.sleep(self.timing.interval)

    async def _member_loop(self, key: Key, uid: str) -> None:
        """Probe one member every interval, at its own random phase (so a fleet is not probed
        in bursts) and at a steady pace: a slow probe skips ticks rather than shifting them."""
        loop = asyncio.get_running_loop()
        interval = self.timing.interval
        tick = loop.time() + random.uniform(0, interval)  # noqa: S311  (jitter, not crypto)
        while True:
            await asyncio.sleep(max(0.0, tick - loop.time()))
            try:
                await self._probe(key, uid)
            except Exception:  # a bug must not end this member's probing
                log.exception("probing cluster %s/%s failed", *key)
            tick += interval * max(1, math.ceil((loop.time() - tick) / interval))

    def _measure(self, now: float, *, restart: bool) -> float | None:
        """Probes per second over the last ``THROUGHPUT_INTERVALS`` intervals (None right after
        a ``restart``: joining members' first probes say nothing about a round)."""
        if restart:
            self._samples.clear()
        self._samples.append((now, self._completed))
        span = THROUGHPUT_INTERVALS * self.timing.interval
        while len(self._samples) > 2 and now - self._samples[1][0] >= span:
            self._samples.popleft()
        if len(self._samples) < 2:
            return None
        since, done = self._samples[0]
        return (self._completed - done) / max(now - since, 1e-3)

    def _adapt(self, members: int, probes_per_second: float) -> None:
        """Judge with the round time the fleet really has (only once every member has had a
        full round to be measured over: before, the rate says nothing)."""
        if members == 0 or probes_per_second * self.timing.interval < 1:
            return
        # When the prober keeps up, the rate is members / interval and the round the interval.
        self.timing = self.timing.under_load(members, probes_per_second)
        bound = self.timing.detection_bound
        DETECTION_BOUND.set(bound)
        ROUND_SECONDS.set(self.timing.round_time)
        overloaded = bound > self.timing.grace + 1e-6
        if overloaded and not self._overloaded:
            log.warning("probing %d members takes %.1fs a round (%.0f probes/s): an unreachable "
                        "member is noticed within %.1fs, beyond the %.0fs grace period", members,
                        self.timing.round_time, probes_per_second, bound, self.timing.grace)
        self._overloaded = overloaded

    def _wants_nodes(self, key: Key, uid: str, now: float) -> bool:
        """List the nodes when the last listing is ``nodes_interval`` old and at least
        ``NODES_EVERY`` probes ago (a loaded prober whose round outlasts the interval still
        lists on one probe in three), or on every probe of a failing member."""
        listed = self._nodes.get(key)
        known = self._states.get(key)
        troubled = known is not None and known[0] == uid and (
            known[1].verdict is not None or known[1].failing_since is not None)
        return troubled or listed is None or (
            now - listed[0] >= self.nodes_interval and listed[3] + 1 >= NODES_EVERY)

    def _with_nodes(self, key: Key, result: logic.ProbeResult, now: float) -> logic.ProbeResult:
        """Remember a listing's counts; give a /readyz-only result the last listed counts."""
        if not result.reachable:
            return result
        if result.nodes_listed:
            self._nodes[key] = (now, result.nodes_total, result.nodes_ready, 0)
            return result
        listed_at, total, ready, since = self._nodes.get(key, (now, 0, 0, 0))
        self._nodes[key] = (listed_at, total, ready, since + 1)
        return replace(result, nodes_total=total, nodes_ready=ready, nodes_listed=True)

    def _members(self) -> dict[Key, str]:
        found = {}
        for key, body in list(self.clusters.bodies.items()):
            meta = body["metadata"]
            status = body.get("status") or {}
            # Only members the operator holds a credential for (kubeconfigSecret is recorded
            # once it is written): clusters without an endpoint cost nothing.
            if status.get("phase") in logic.PROBED_PHASES and status.get("kubeconfigSecret") \
                    and not meta.get("deletionTimestamp"):
                found[key] = meta["uid"]
        return found

    # -- one probe ---------------------------------------------------------------------------------

    async def _probe(self, key: Key, uid: str) -> None:
        # A verdict is timed from when a probe was due, not when its timeout ended.
        started = time.monotonic()
        async with self._slots:
            try:
                probe = await self._probe_client(key, uid)
            except (MemberCredentialError, ValueError):
                return  # no usable credential yet (a new cluster): nothing to judge
            except (ApiError, httpx2.HTTPError) as exc:
                why = exc.status.message if isinstance(exc, ApiError) else type(exc).__name__
                log.warning("cannot read the credential of cluster %s/%s: %s", *key, why)
                return  # the management cluster is in trouble, not the member
            self.probes_sent += 1
            result = self._with_nodes(key, await probe.probe(
                nodes=self._wants_nodes(key, uid, started)), started)
        self._completed += 1
        if not result.reachable:
            self._probes.pop(key, None)  # a rotated credential is picked up on the next probe
        known = self._states.get(key)
        state = known[1] if known is not None and known[0] == uid else logic.MemberHealth()
        judgement = logic.judge(state, result, started, self.timing)
        self._states[key] = (uid, judgement.state)
        if judgement.changed:
            self._announce(key, uid, judgement)
            if judgement.state.verdict is not None:
                await self._write_verdict(key, uid, judgement.state.verdict)
            # The cluster pass keeps the verdict in every status it writes (status_overlay),
            # and on recovery writes the status the provider's view gives.
            self.clusters.queue.add(key)

    async def _write_verdict(self, key: Key, uid: str, verdict: logic.Verdict) -> None:
        body = self.clusters.bodies.get(key)
        if body is None or body["metadata"]["uid"] != uid:
            return
        ops = logic.verdict_patch(body.get("status") or {}, verdict,
                                  int(body["metadata"].get("generation", 1)))
        if not ops:
            return
        try:
            await objects.patch_status_ops(self.clusters.wire, HybridClusterResource, body, ops)
        except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
            # A concurrent write moved the condition (or the management cluster is slow): the
            # cluster pass writes it instead.
            log.info("verdict for cluster %s/%s left to the cluster pass: %s", *key,
                     exc.status.message if isinstance(exc, ApiError) else type(exc).__name__)

    async def _probe_client(self, key: Key, uid: str) -> MemberProbe:
        cached = self._probes.get(key)
        if cached is not None and time.monotonic() - cached[0] < _CREDENTIAL_RECHECK:
            return cached[1]
        probe = await self.members.get(key[0], key[1], uid)
        self._probes[key] = (time.monotonic(), probe)
        return probe

    def _announce(self, key: Key, uid: str, judgement: logic.Judgement) -> None:
        verdict = judgement.state.verdict
        transition = judgement.transition or ""
        if verdict is not None:
            log.warning("cluster %s/%s is unhealthy: %s", *key, verdict.message)
        else:
            log.info("cluster %s/%s is healthy again", *key)
        self.feed.publish(DomainEvent(
            type=transition,
            subject=ObjectRef(API_VERSION, HybridCluster.KIND, key[0], key[1], uid),
            message=verdict.message if verdict else "the member answers again",
            warning=verdict is not None,
            data={"cluster_id": key[1], "name": key[1],
                  "reason": verdict.reason if verdict else "Recovered",
                  "status": "offline" if verdict else "healthy"}))


def _build_probe(cluster: str, config: KubeConfig, *, timeout: float) -> MemberProbe:
    return MemberProbe(cluster, config, timeout=timeout)


async def _close_probe(probe: MemberProbe) -> None:
    await probe.close()
