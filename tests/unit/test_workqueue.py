"""The controller work queue: de-duplication, no concurrent passes per key, requeue, backoff."""

from __future__ import annotations

import asyncio

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
