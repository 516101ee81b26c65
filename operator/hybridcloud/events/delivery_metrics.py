"""The webhook dispatcher's Prometheus figures: where every transition event stands.

An event the operator recorded is, for each subscription of its namespace, either queued for
that endpoint or not (never enqueued: a bug, since nothing else drops it), then filtered (the
endpoint does not want that type, or is inactive), delivered, given up on (failed), or still
in flight: waiting in a lane, being attempted, or waiting for its next retry. The counters
cover transition events only (pings and redeliveries move no cursor and are left out), so
``queued = filtered + succeeded + failed + in flight`` holds at any scrape. The in-flight
figures are read from the live dispatchers when scraped: no cost on the delivery path.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

QUEUED = Counter("hybridcloud_webhook_events_queued",
                 "Transition events queued for delivery, one per subscribed endpoint.")
# Labelled so that processes which only import the dispatcher's names (the API) show no sample.
OUTCOMES = Counter("hybridcloud_webhook_event_outcomes",
                   "Transition events an endpoint is done with, by result: succeeded, failed "
                   "(retries exhausted or not retryable), filtered (type not subscribed, or the "
                   "subscription inactive).", ["result"])
RETRIES = Counter("hybridcloud_webhook_delivery_retries",
                  "Failed attempts that are retried after a backoff.", ["reason"])


def retried(status_code: int | None, error: str | None) -> None:
    """A failed attempt that will be retried, labelled with a bounded reason: the status class
    the receiver answered, or why there was no answer."""
    if status_code is not None:
        reason = f"{status_code // 100}xx"
    else:
        reason = "timeout" if error == "timed out" else "connection"
    RETRIES.labels(reason).inc()


class InFlight(Protocol):
    def in_flight(self) -> dict[str, int]:
        """Events by state: queued, attempting, retrying."""
        ...


_DISPATCHERS: weakref.WeakSet[InFlight] = weakref.WeakSet()
_registered = False


class _InFlightCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hybridcloud_webhook_events_in_flight",
            "Events accepted by the dispatcher and not yet delivered or given up on, by state "
            "(queued in a lane, attempting now, retrying: waiting for the next attempt).",
            labels=["state"])
        totals = {"queued": 0, "attempting": 0, "retrying": 0}
        for dispatcher in list(_DISPATCHERS):
            for state, count in dispatcher.in_flight().items():
                totals[state] = totals.get(state, 0) + count
        for state, count in totals.items():
            family.add_metric([state], count)
        yield family


def track(dispatcher: InFlight) -> None:
    """Report ``dispatcher``'s in-flight events while it lives (the collector is registered
    with the first dispatcher, so the API process, which never runs one, shows none)."""
    global _registered
    _DISPATCHERS.add(dispatcher)
    if not _registered:
        REGISTRY.register(_InFlightCollector())
        _registered = True
