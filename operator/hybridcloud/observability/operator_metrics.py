"""The operator's own Prometheus metrics, named and labelled as controller-runtime names them.

Dashboards and alerts people already run for Go operators (reconcile rate and errors, work
queue depth and latency, client request codes) work unchanged; the ``hybridcloud_*`` families
add what only this platform knows (clusters by phase, provider calls, git fetches, deliveries).

Everything lives in prometheus-client's default registry, the convention the REST API already
follows for its own ``/metrics``. Instruments are fed at single choke points: the work queue
(``controllers/queue.py``), the wire client (``kube/wire.py``), the controller→provider call,
the git fetch and the member sync. Gauges that describe objects (clusters by phase, deployments
by health) and the queue's in-flight figures are computed when scraped, from state the operator
already holds in memory: metrics cost no API call and no write.

This module imports nothing but prometheus-client, so every layer may use it.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ParamSpec, Protocol, TypeVar
from urllib.parse import urlsplit

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

P = ParamSpec("P")
T = TypeVar("T")

# controller-runtime's buckets (pkg/internal/controller/metrics): reconciles span milliseconds
# (nothing to do) to minutes (a slow cloud call), so the scale is exponential up to 60 s.
_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
                      0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5,
                      6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60)
# client-go's workqueue buckets: 10^-8 s … 10^1 s (ExponentialBuckets(1e-8, 10, 10)).
_QUEUE_BUCKETS = tuple(10.0 ** exponent for exponent in range(-8, 2))
# Cloud calls and git fetches take from tens of milliseconds to many minutes (a cluster create).
_SLOW_CALL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total", "Total number of reconciliations per controller.",
    ["controller", "result"])
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller.", ["controller"])
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller.", ["controller"],
    buckets=_RECONCILE_BUCKETS)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller.", ["controller"])
MAX_CONCURRENT = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller.", ["controller"])
QUEUE_ADDS = Counter("workqueue_adds_total", "Total number of adds handled by workqueue.",
                     ["name"])
QUEUE_LATENCY = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested.", ["name"],
    buckets=_QUEUE_BUCKETS)
WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.", ["name"],
    buckets=_QUEUE_BUCKETS)
QUEUE_RETRIES = Counter("workqueue_retries_total", "Total number of retries handled by workqueue.",
                        ["name"])
REST_REQUESTS = Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"])
PROVIDER_CALL_TIME = Histogram(
    "hybridcloud_provider_call_duration_seconds",
    "Duration of calls to a cloud provider adapter, by cloud and operation.",
    ["cloud", "operation"], buckets=_SLOW_CALL_BUCKETS)
PROVIDER_CALL_ERRORS = Counter(
    "hybridcloud_provider_call_errors_total",
    "Failed calls to a cloud provider adapter, by cloud, operation and error class "
    "(transient, permanent, unexpected).", ["cloud", "operation", "error"])
GIT_FETCH_TIME = Histogram(
    "hybridcloud_git_fetch_duration_seconds", "Duration of git fetches of application sources.",
    buckets=_SLOW_CALL_BUCKETS)
GIT_FETCH_FAILURES = Counter(
    "hybridcloud_git_fetch_failures_total", "Failed git fetches, by reason.", ["reason"])
DELIVERY_SYNCS = Counter(
    "hybridcloud_delivery_syncs_total",
    "Syncs of an application to one member cluster, by result (success, error, refused, "
    "unreachable).", ["result"])
DELIVERY_OBJECTS = Counter(
    "hybridcloud_delivery_objects_total",
    "Objects written to member clusters by syncs, by action (applied, pruned, healed).",
    ["action"])


def result_of(requeue: float | None) -> str:
    """controller-runtime's ``result`` label for a pass that returned ``requeue``."""
    if requeue is None:
        return "success"
    return "requeue_after" if requeue > 0 else "requeue"


class QueueMetrics:
    """The instruments of one work queue; ``name`` is both its controller and queue name."""

    def __init__(self, name: str, workers: int, due: Callable[[], Iterable[float]]) -> None:
        self.name = name
        self.due = due  # when each scheduled item is due: the queue's own schedule
        self.adds = QUEUE_ADDS.labels(name)
        self.latency = QUEUE_LATENCY.labels(name)
        self.work = WORK_DURATION.labels(name)
        self.retries = QUEUE_RETRIES.labels(name)
        self.reconcile_time = RECONCILE_TIME.labels(name)
        self.errors = RECONCILE_ERRORS.labels(name)
        self.results = {result: RECONCILE_TOTAL.labels(name, result)
                        for result in ("success", "error", "requeue", "requeue_after")}
        self.active = ACTIVE_WORKERS.labels(name)
        MAX_CONCURRENT.labels(name).set(workers)
        self.running: dict[Hashable, float] = {}  # key → when its pass started
        _QUEUES.add(self)
        _register_once(_QueueCollector)

    def added(self) -> None:
        self.adds.inc()

    def picked(self, key: Hashable, due: float) -> None:
        """A worker took ``key``, which was due at ``due``, and starts its pass."""
        now = time.monotonic()
        self.latency.observe(max(0.0, now - due))
        self.running[key] = now
        self.active.inc()

    def finished(self, key: Hashable, requeue: float | None, failed: bool) -> None:
        started = self.running.pop(key, None)
        self.active.dec()
        if started is not None:
            elapsed = time.monotonic() - started
            self.work.observe(elapsed)
            self.reconcile_time.observe(elapsed)
        if failed:
            self.errors.inc()
            self.retries.inc()  # a failed key goes back with its per-key backoff
            self.results["error"].inc()
        else:
            self.results[result_of(requeue)].inc()

    def depth(self, now: float) -> int:
        """Items due now and not yet taken (scheduled later ones are not in the queue yet,
        as with client-go's AddAfter)."""
        return sum(1 for when in self.due() if when <= now)


_QUEUES: weakref.WeakSet[QueueMetrics] = weakref.WeakSet()


class _QueueCollector(Collector):
    """Depth and in-flight work of every live queue, computed at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue.",
                                  labels=["name"])
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been "
            "observed by work_duration.", labels=["name"])
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            labels=["name"])
        now = time.monotonic()
        for queue in list(_QUEUES):
            ages = [now - started for started in list(queue.running.values())]
            depth.add_metric([queue.name], queue.depth(now))
            unfinished.add_metric([queue.name], sum(ages))
            longest.add_metric([queue.name], max(ages, default=0.0))
        yield from (depth, unfinished, longest)


# -- the wire client ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _host(url: str) -> str:
    return urlsplit(url).netloc


def rest_request(method: str, base_url: str, code: int) -> None:
    """One request of the operator's client to the apiserver at ``base_url`` answered ``code``.
    (A request that got no answer raises before it is counted: its error is logged.)"""
    REST_REQUESTS.labels(str(code), method, _host(base_url)).inc()


# -- provider calls (the controller → provider boundary) ---------------------------------------

class _Provider(Protocol):
    name: str


def timed_provider_call(func: Callable[P, T]) -> Callable[P, T]:
    """``func`` (a bound method of a provider adapter) timed and its failures counted by
    cloud and operation; anything else is returned unchanged. Runs in the provider threads."""
    adapter = getattr(func, "__self__", None)
    cloud = getattr(adapter, "name", None)
    if not isinstance(cloud, str):
        return func
    operation = getattr(func, "__name__", "call")
    histogram = PROVIDER_CALL_TIME.labels(cloud, operation)

    @functools.wraps(func)
    def timed(*args: P.args, **kwargs: P.kwargs) -> T:
        started = time.monotonic()
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            PROVIDER_CALL_ERRORS.labels(cloud, operation, _error_class(exc)).inc()
            raise
        finally:
            histogram.observe(time.monotonic() - started)

    return timed


def _error_class(exc: BaseException) -> str:
    # By class name, so this module needs no import of the providers package.
    names = {klass.__name__ for klass in type(exc).__mro__}
    if "PermanentError" in names:
        return "permanent"
    if "TransientError" in names:
        return "transient"
    return "unexpected"


# -- git and delivery -----------------------------------------------------------------------------

def timed_git_fetch(fetch: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[None]]:
    """Decorates the git cache's fetch: its duration, and failures by the error's reason."""

    @functools.wraps(fetch)
    async def timed(*args: P.args, **kwargs: P.kwargs) -> None:
        started = time.monotonic()
        try:
            await fetch(*args, **kwargs)
        except Exception as exc:
            GIT_FETCH_FAILURES.labels(str(getattr(exc, "reason", None) or "Error")).inc()
            raise
        finally:
            GIT_FETCH_TIME.observe(time.monotonic() - started)

    return timed


class _SyncOutcome(Protocol):
    applied: int
    pruned: int
    healed: list[str]
    errors: list[str]
    refused: list[str]


Outcome = TypeVar("Outcome", bound=_SyncOutcome)


def counted_sync(sync: Callable[P, Awaitable[Outcome]]) -> Callable[P, Awaitable[Outcome]]:
    """Decorates a member cluster's sync: objects applied/pruned/healed and the result."""

    @functools.wraps(sync)
    async def counted(*args: P.args, **kwargs: P.kwargs) -> Outcome:
        try:
            outcome = await sync(*args, **kwargs)
        except Exception:
            DELIVERY_SYNCS.labels("unreachable").inc()
            raise
        DELIVERY_OBJECTS.labels("applied").inc(outcome.applied)
        DELIVERY_OBJECTS.labels("pruned").inc(outcome.pruned)
        DELIVERY_OBJECTS.labels("healed").inc(len(outcome.healed))
        result = "refused" if outcome.refused else "error" if outcome.errors else "success"
        DELIVERY_SYNCS.labels(result).inc()
        return outcome

    return counted


# -- objects by state, from the controllers' caches -------------------------------------------

Bodies = Callable[[], Iterable[Mapping[str, Any]]]
_SOURCES: dict[str, Bodies] = {}


def track_objects(*, clusters: Bodies, applications: Bodies) -> None:
    """Where the scrape reads the cached HybridCluster and MultiClusterApplication bodies."""
    _SOURCES["clusters"], _SOURCES["applications"] = clusters, applications
    _register_once(_ObjectCollector)


def _parse_time(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _phase_since(body: Mapping[str, Any]) -> float | None:
    """When the cluster's current operation began: its Reconciling condition turned true (it
    stays true, reason aside, for the whole create/update/delete), else its creation."""
    status = body.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return _parse_time(condition.get("lastTransitionTime"))
    return _parse_time((body.get("metadata") or {}).get("creationTimestamp"))


def cluster_families(bodies: Iterable[Mapping[str, Any]], now: float,
                     ) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    """Clusters by phase and provider, and the age of the oldest cluster in each phase."""
    counts: Tally[tuple[str, str]] = Tally()
    oldest: dict[str, float] = {}
    for body in bodies:
        phase = str((body.get("status") or {}).get("phase") or "Unknown")
        counts[(phase, str((body.get("spec") or {}).get("provider", "unknown")))] += 1
        since = _phase_since(body)
        if since is not None:
            oldest[phase] = max(oldest.get(phase, 0.0), now - since)
    clusters = GaugeMetricFamily("hybridcloud_clusters", "HybridClusters by phase and provider.",
                                 labels=["phase", "provider"])
    for (phase, provider), count in sorted(counts.items()):
        clusters.add_metric([phase, provider], count)
    ages = GaugeMetricFamily(
        "hybridcloud_cluster_phase_oldest_seconds",
        "Seconds since the oldest HybridCluster in each phase began its current operation.",
        labels=["phase"])
    for phase, age in sorted(oldest.items()):
        ages.add_metric([phase], max(0.0, age))
    return clusters, ages


def application_families(bodies: Iterable[Mapping[str, Any]],
                         ) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    """Applications by phase, and their per-cluster deployments by health and sync state."""
    phases: Tally[str] = Tally()
    deployments: Tally[tuple[str, str]] = Tally()
    for body in bodies:
        status = body.get("status") or {}
        phases[str(status.get("phase") or "Unknown")] += 1
        for deployment in status.get("deployments") or []:
            deployments[(str(deployment.get("health") or "Unknown"),
                         str(deployment.get("status") or "Pending"))] += 1
    apps = GaugeMetricFamily("hybridcloud_applications", "MultiClusterApplications by phase.",
                             labels=["phase"])
    for phase, count in sorted(phases.items()):
        apps.add_metric([phase], count)
    placed = GaugeMetricFamily(
        "hybridcloud_application_deployments",
        "Deployments of applications on member clusters by health and sync state.",
        labels=["health", "sync"])
    for (health, sync), count in sorted(deployments.items()):
        placed.add_metric([health, sync], count)
    return apps, placed


class _ObjectCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        clusters = _SOURCES.get("clusters", tuple)
        applications = _SOURCES.get("applications", tuple)
        yield from cluster_families(list(clusters()), datetime.now(UTC).timestamp())
        yield from application_families(list(applications()))


_REGISTERED: set[type[Collector]] = set()


def _register_once(collector: type[Collector]) -> None:
    """Scrape-time collectors join the registry when first needed: a process that imports
    this module without running controllers (the REST API) serves none of their families."""
    if collector not in _REGISTERED:
        _REGISTERED.add(collector)
        REGISTRY.register(collector())
