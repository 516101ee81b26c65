"""The domain-event feed: every sink gets every event, at its own pace, and a failing or slow
sink never affects the others or the publisher."""

from __future__ import annotations

import asyncio

import pytest

from hybridcloud.feed import DomainEvent, Feed, ObjectRef


def event(name: str, kind: str = "cluster.ready") -> DomainEvent:
    return DomainEvent(type=kind, subject=ObjectRef("platform.example.com/v1", "HybridCluster",
                                                    "team-a", name, f"uid-{name}"),
                       message=name)


async def test_a_single_worker_sink_receives_every_event_in_order() -> None:
    feed, seen = Feed(), []

    async def sink(item: DomainEvent) -> None:
        await asyncio.sleep(0)
        seen.append(item.subject.name)

    feed.subscribe(sink)
    for i in range(50):
        feed.publish(event(f"c{i}"))
    await feed.drain()
    assert seen == [f"c{i}" for i in range(50)]


async def test_a_sinks_concurrency_bounds_deliveries_in_flight() -> None:
    feed, in_flight, peak, delivered = Feed(), 0, 0, 0

    async def sink(item: DomainEvent) -> None:
        nonlocal in_flight, peak, delivered
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        delivered += 1

    feed.subscribe(sink, concurrency=4)
    for i in range(200):  # a burst: queued as events, delivered four at a time
        feed.publish(event(f"c{i}"))
    await feed.drain()
    assert (peak, delivered) == (4, 200)


async def test_a_failing_sink_is_logged_and_neither_stops_itself_nor_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    feed, good = Feed(), []

    async def broken(item: DomainEvent) -> None:
        raise RuntimeError("webhook down")

    async def working(item: DomainEvent) -> None:
        good.append(item.subject.name)

    feed.subscribe(broken)
    feed.subscribe(working)
    for name in ("a", "b", "c"):
        feed.publish(event(name))
    await feed.drain()
    assert good == ["a", "b", "c"]
    assert "event sink failed for cluster.ready on team-a/c" in caplog.text


async def test_publishing_returns_at_once_even_when_a_sink_is_slow() -> None:
    feed, release, started, delivered = Feed(), asyncio.Event(), [], []

    async def slow(item: DomainEvent) -> None:
        started.append(item.subject.name)
        await release.wait()
        delivered.append(item.subject.name)

    feed.subscribe(slow)
    for i in range(1000):
        feed.publish(event(f"c{i}"))  # never awaits: a reconcile is never held up
    # publish() is synchronous, so all 1000 calls returned without the sink having run once.
    assert (started, delivered) == ([], [])
    await asyncio.sleep(0.05)  # the worker now takes the first event and is held by the sink
    assert (started, delivered) == (["c0"], [])
    release.set()
    await asyncio.wait_for(feed.drain(), 5)
    assert delivered == [f"c{i}" for i in range(1000)]


async def test_draining_gives_up_on_an_unreachable_sink_after_its_timeout(
        caplog: pytest.LogCaptureFixture) -> None:
    feed = Feed()

    async def unreachable(item: DomainEvent) -> None:
        await asyncio.sleep(3600)

    feed.subscribe(unreachable)
    for i in range(3):
        feed.publish(event(f"c{i}"))
    await asyncio.wait_for(feed.drain(give_up_after=0.1), 5)  # a shutdown is not held hostage
    assert "shutting down with 2 undelivered events" in caplog.text
