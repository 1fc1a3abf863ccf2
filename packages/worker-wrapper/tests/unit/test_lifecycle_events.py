"""Lifecycle events leave in the order the worker lived them, whatever Redis does meanwhile."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from shared.contracts import LifecycleEventKind, WorkerLifecycleEvent
from worker_wrapper.adapters.redis_lifecycle import RedisLifecycle


class SlowPublisher:
    """Holds the first publication until released: STARTED while Redis is away."""

    def __init__(self) -> None:
        self.asked: list[LifecycleEventKind] = []
        self.published: list[LifecycleEventKind] = []
        self.release = asyncio.Event()
        self.first_asked = asyncio.Event()

    async def publish(self, stream: str, message: BaseModel) -> None:
        assert stream == "worker:lifecycle"
        assert isinstance(message, WorkerLifecycleEvent)
        self.asked.append(message.event)
        self.first_asked.set()
        await self.release.wait()
        self.published.append(message.event)


async def settled() -> None:
    """Let every ready task run as far as it can (no clock: the loop is turned a bounded number of
    times, more than the adapter's path to a publish takes)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_an_event_reported_while_started_is_still_on_its_way_waits_for_it() -> None:
    publisher = SlowPublisher()
    lifecycle = RedisLifecycle(publisher, worker_id="dev-1")
    started = asyncio.create_task(lifecycle.report(LifecycleEventKind.STARTED))
    await publisher.first_asked.wait()
    completed = asyncio.create_task(lifecycle.report(LifecycleEventKind.COMPLETED, exit_code=0))
    await settled()
    assert publisher.asked == [LifecycleEventKind.STARTED]

    publisher.release.set()
    await asyncio.gather(started, completed)

    assert publisher.published == [LifecycleEventKind.STARTED, LifecycleEventKind.COMPLETED]


async def test_an_event_waits_for_no_started_that_was_never_sent() -> None:
    publisher = SlowPublisher()
    publisher.release.set()
    await RedisLifecycle(publisher, worker_id="dev-1").report(
        LifecycleEventKind.STOPPED, exit_code=143
    )
    assert publisher.published == [LifecycleEventKind.STOPPED]


async def test_an_event_goes_out_after_a_started_that_was_cancelled() -> None:
    publisher = SlowPublisher()
    lifecycle = RedisLifecycle(publisher, worker_id="dev-1")
    started = asyncio.create_task(lifecycle.report(LifecycleEventKind.STARTED))
    await publisher.first_asked.wait()
    started.cancel()  # the worker stopped while Redis was away
    publisher.release.set()
    await lifecycle.report(LifecycleEventKind.STOPPED, exit_code=143)
    assert publisher.published == [LifecycleEventKind.STOPPED]
