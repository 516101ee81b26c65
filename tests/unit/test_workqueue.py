"""The controller work queue: de-duplication, no concurrent passes per key, requeue, backoff."""

from __future__ import annotations

import asyncio
from typing import Any

from hybridcloud.controllers.queue import WorkQueue


async def test_a_key_added_many_times_is_reconciled_once() -> None:
    seen: list[str] = []

    async def reconcile(key: str) -> float | None:
        seen.append(key)
        return None

    queue: WorkQueue[str] = WorkQueue(reconcile, workers=4)
    for _ in range(10):
        queue.add("a")
    queue.start()
    await asyncio.sleep(0.1)
    await queue.stop()
    assert seen == ["a"]


async def test_one_key_is_never_processed_concurrently_but_reruns_when_dirty() -> None:
    running = 0
    peak = 0
    passes = 0

    async def reconcile(key: str) -> float | None:
        nonlocal running, peak, passes
        running += 1
        peak = max(peak, running)
        passes += 1
        await asyncio.sleep(0.05)
        running -= 1
        return None

    queue: WorkQueue[str] = WorkQueue(reconcile, workers=4)
    queue.start()
    queue.add("a")
    await asyncio.sleep(0.01)
    queue.add("a")  # arrives mid-pass: must cause exactly one more pass, later
    queue.add("a")
    await asyncio.sleep(0.3)
    await queue.stop()
    assert peak == 1
    assert passes == 2


async def test_requeue_after_and_exponential_backoff_on_failure() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    succeeded = asyncio.Event()

    async def reconcile(key: str) -> float | None:
        calls.append(loop.time())
        if len(calls) < 3:
            raise RuntimeError("boom")
        succeeded.set()
        return None

    queue: WorkQueue[str] = WorkQueue(reconcile, workers=1, base_backoff=0.05)
    queue.start()
    queue.add("a")
    # Waits for the outcome rather than a fixed time: a loaded machine only makes retries later.
    await asyncio.wait_for(succeeded.wait(), timeout=30)
    await queue.stop()
    assert len(calls) == 3
    # A retry never comes before its backoff (0.05 s, then doubled to 0.1 s); lateness is allowed.
    assert calls[1] - calls[0] >= 0.05 - 0.005
    assert calls[2] - calls[1] >= 0.1 - 0.005


async def test_forget_drops_pending_work() -> None:
    seen: list[str] = []

    async def reconcile(key: str) -> float | None:
        seen.append(key)
        return None

    queue: WorkQueue[str] = WorkQueue(reconcile, workers=1)
    queue.add("a", delay=0.05)
    queue.forget("a")
    queue.start()
    await asyncio.sleep(0.15)
    await queue.stop()
    assert seen == []


async def test_a_delayed_key_runs_on_time_while_other_workers_are_busy() -> None:
    """The worker that took the due key is busy; an idle one must still run the delayed key at
    its time, not when the busy one comes back."""
    started: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    release = asyncio.Event()

    async def reconcile(key: str) -> float | None:
        started[key] = loop.time()
        if key == "slow":
            await release.wait()
        return None

    queue: WorkQueue[str] = WorkQueue(reconcile, workers=2)
    queue.start()
    queue.add("slow")
    queue.add("later", 0.1)
    began = loop.time()
    for _ in range(300):
        if "later" in started:
            break
        await asyncio.sleep(0.01)
    release.set()
    await queue.stop()
    assert "later" in started, "the delayed key waited for the busy worker"
    assert started["later"] - began >= 0.1 - 0.005


async def test_each_key_wakes_one_idle_worker_not_all_of_them() -> None:
    """Forty-eight idle workers, a resync scheduled later and a key at a time: waking them all
    made each of them a new task per key to wait again until the resync (issue 19's delivery
    profile); now a key costs no task at all."""
    loop = asyncio.get_running_loop()
    created = 0
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs) if factory is None else \
            factory(loop, coro, **kwargs)

    done: list[int] = []

    async def reconcile(key: int) -> float | None:
        done.append(key)
        return None

    queue: WorkQueue[int] = WorkQueue(reconcile, workers=48)
    queue.start()
    queue.add(-1, 3600)  # a resync an hour away: the idle workers have a time to wake at
    await asyncio.sleep(0.01)  # every worker idle
    loop.set_task_factory(counting)
    try:
        for key in range(20):
            queue.add(key)
            await asyncio.sleep(0.01)
    finally:
        loop.set_task_factory(factory)
    await queue.stop()
    assert sorted(done) == list(range(20))
    assert created == 0
