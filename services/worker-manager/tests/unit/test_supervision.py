"""The supervision of worker-manager's essential tasks: any one that ends stops the service with
a non-zero exit; a stop request ends it cleanly; no task can keep it up past its cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from shared.streams import raise_if_cancelled
from worker_manager.main import supervise

GRACE_S = 30.0


class Loop:
    """A job that serves until asked to stop (its wind-down), as a consumer does."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.finished = False

    async def run(self) -> None:
        await self.stopping.wait()
        self.finished = True


async def forever() -> None:
    await asyncio.Event().wait()


async def crashes() -> None:
    raise ConnectionError("redis refused")


async def swallows_cancellation_once() -> None:
    """A loop whose cancellation is swallowed below it, as redis-py's wait_for can."""
    while True:
        raise_if_cancelled()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.01)


class TestSupervise:
    async def test_a_task_that_fails_stops_the_others_and_the_exit_is_non_zero(self) -> None:
        consumer = Loop()

        outcome = await supervise(
            {"consumer": consumer.run(), "watcher": crashes(), "events": forever()},
            asyncio.Event(),
            wind_down=consumer.stopping.set,
            graceful={"consumer", "watcher"},
            grace_s=GRACE_S,
        )

        assert outcome.exit_code == 1
        assert outcome.stragglers == []
        assert consumer.finished, "the consumer was let finish what it held"

    async def test_a_task_that_returns_unasked_is_an_unexpected_end(self) -> None:
        async def returns() -> None:
            return None

        outcome = await supervise(
            {"consumer": returns(), "watcher": forever()},
            asyncio.Event(),
            wind_down=lambda: None,
            graceful=set(),
            grace_s=GRACE_S,
        )

        assert outcome.exit_code == 1

    async def test_a_stop_request_winds_everything_down_with_exit_zero(self) -> None:
        consumer = Loop()
        stop = asyncio.Event()
        stop.set()

        outcome = await supervise(
            {"consumer": consumer.run(), "events": forever()},
            stop,
            wind_down=consumer.stopping.set,
            graceful={"consumer"},
            grace_s=GRACE_S,
        )

        assert outcome.exit_code == 0
        assert outcome.stragglers == []
        assert consumer.finished

    async def test_a_loop_whose_cancellation_is_swallowed_still_ends(self) -> None:
        stop = asyncio.Event()
        stop.set()

        outcome = await supervise(
            {"watcher": swallows_cancellation_once()},
            stop,
            wind_down=lambda: None,
            graceful=set(),
            grace_s=GRACE_S,
        )

        assert outcome.stragglers == []

    async def test_a_task_that_ignores_every_cancellation_is_named_not_waited_for(self) -> None:
        release = asyncio.Event()

        async def deaf() -> None:
            while not release.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.01)

        stop = asyncio.Event()
        stop.set()
        try:
            outcome = await supervise(
                {"deaf": deaf()}, stop, wind_down=lambda: None, graceful=set(), grace_s=0.05
            )
        finally:
            release.set()
            leftovers = [task for task in asyncio.all_tasks() if task.get_name() == "deaf"]
            await asyncio.gather(*leftovers)

        assert outcome.stragglers == ["deaf"]
