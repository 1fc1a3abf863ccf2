"""The watcher's and the engine-deaths follower's loops (built in bootstrap.py): they return when
the service stops, and a cancellation swallowed below them (as redis-py's wait_for can) still
ends them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from shared.lifetime import Lifetime
from shared.testing.waiting import eventually
from worker_manager.bootstrap import _death_follower, _watcher


async def test_the_watcher_runs_its_passes_and_collects_until_the_service_stops() -> None:
    lifetime = Lifetime()
    runs: list[str] = []

    async def watch() -> None:
        runs.append("watch")
        if runs.count("watch") == 3:
            lifetime.stop()

    async def collect() -> None:
        runs.append("collect")

    loop = _watcher([watch], collect, interval_s=0.01, gc_interval_s=3600)
    await asyncio.wait_for(loop(lifetime), 30)

    assert runs == ["watch", "collect", "watch", "watch"]


async def test_a_watcher_whose_cancellation_is_swallowed_below_it_still_ends() -> None:
    entered = asyncio.Event()

    async def swallowing() -> None:
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)

    task = asyncio.create_task(
        _watcher([swallowing], None, interval_s=0, gc_interval_s=3600)(Lifetime())
    )
    await asyncio.wait_for(entered.wait(), 30)
    task.cancel()

    done, _ = await asyncio.wait({task}, timeout=30)
    assert task in done, "it ended"
    assert task.cancelled()


class Engine:
    """Deaths in two bursts: the event stream breaks after the first."""

    def __init__(self) -> None:
        self.bursts = [[("developer-1", 137)], [("po-1", 0)]]

    async def deaths(self) -> AsyncIterator[tuple[str, int]]:
        for death in self.bursts.pop(0):
            yield death
        if self.bursts:
            raise ConnectionError("the engine's event stream broke")
        await asyncio.Event().wait()


async def test_the_deaths_follower_follows_again_after_its_stream_breaks() -> None:
    lifetime = Lifetime()
    seen: list[tuple[str, int]] = []

    async def on_death(worker_id: str, exit_code: int) -> None:
        seen.append((worker_id, exit_code))

    follower = asyncio.create_task(_death_follower(Engine(), on_death, retry_s=0.01)(lifetime))

    async def both_seen() -> bool:
        return len(seen) == 2

    await eventually(both_seen)
    follower.cancel()
    await asyncio.wait({follower}, timeout=30)

    assert seen == [("developer-1", 137), ("po-1", 0)]
