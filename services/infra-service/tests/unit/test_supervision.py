"""The supervision of infra-service's consumers: one that ends stops the service non-zero; a stop
request ends it cleanly; no task keeps it up past its cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from infra_service.main import supervise
from shared.streams import raise_if_cancelled

GRACE_S = 30.0


class Consumer:
    """Serves until asked to stop, then finishes what it holds."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.finished = False

    async def run(self) -> None:
        await self.stopping.wait()
        self.finished = True


async def crashes() -> None:
    raise ConnectionError("redis refused")


async def returns() -> None:
    return None


class TestSupervise:
    async def test_a_consumer_that_fails_stops_the_others_and_the_exit_is_non_zero(self) -> None:
        other = Consumer()

        outcome = await supervise(
            {"deploys": other.run(), "setups": crashes()},
            asyncio.Event(),
            wind_down=other.stopping.set,
            grace_s=GRACE_S,
        )

        assert outcome.exit_code == 1
        assert outcome.forced == []
        assert other.finished, "the other consumer was let finish what it held"

    async def test_a_consumer_that_returns_unasked_is_an_unexpected_end(self) -> None:
        other = Consumer()

        outcome = await supervise(
            {"deploys": returns(), "setups": other.run()},
            asyncio.Event(),
            wind_down=other.stopping.set,
            grace_s=GRACE_S,
        )

        assert outcome.exit_code == 1

    async def test_a_stop_request_winds_everything_down_with_exit_zero(self) -> None:
        consumers = [Consumer(), Consumer()]
        stop = asyncio.Event()
        stop.set()

        def stop_consumers() -> None:
            for consumer in consumers:
                consumer.stopping.set()

        outcome = await supervise(
            {str(n): c.run() for n, c in enumerate(consumers)},
            stop,
            wind_down=stop_consumers,
            grace_s=GRACE_S,
        )

        assert (outcome.exit_code, outcome.forced) == (0, [])
        assert all(c.finished for c in consumers)

    async def test_a_job_still_busy_after_the_grace_period_is_cancelled_and_named(self) -> None:
        async def deploying() -> None:
            await asyncio.Event().wait()

        stop = asyncio.Event()
        stop.set()

        outcome = await supervise(
            {"deploy": deploying()}, stop, wind_down=lambda: None, grace_s=0.01
        )

        assert outcome.forced == ["deploy"]
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "deploy"]

    async def test_a_loop_whose_cancellation_is_swallowed_below_it_still_ends(self) -> None:
        async def swallowing() -> None:
            while True:
                raise_if_cancelled()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()

        stop = asyncio.Event()
        stop.set()

        outcome = await supervise(
            {"loop": swallowing()}, stop, wind_down=lambda: None, grace_s=0.01
        )

        assert outcome.forced == ["loop"]
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "loop"]
