"""One agent turn at a time in a home that two workers (of one user) share: a real flock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from worker_wrapper.adapters.home_lock import HomeLock


async def test_a_second_holder_waits_until_the_first_lets_go(tmp_path: Path) -> None:
    first = HomeLock(tmp_path, stop=asyncio.Event())
    second = HomeLock(tmp_path, stop=asyncio.Event())
    order: list[str] = []
    holds, release = asyncio.Event(), asyncio.Event()

    async def hold_first() -> None:
        async with first.held() as held:
            order.append(f"first {held}")
            holds.set()
            await release.wait()
            order.append("first done")

    async def hold_second() -> None:
        async with second.held() as held:
            order.append(f"second {held}")

    holding = asyncio.create_task(hold_first())
    await holds.wait()
    waiting = asyncio.create_task(hold_second())
    done, _ = await asyncio.wait({waiting}, timeout=0.5)
    assert not done  # still waiting (polling) while the first holds it
    release.set()
    await asyncio.wait_for(asyncio.gather(holding, waiting), timeout=10)

    assert order == ["first True", "first done", "second True"]


async def test_a_holder_stopped_while_waiting_gets_nothing_and_leaves_at_once(
    tmp_path: Path,
) -> None:
    stop = asyncio.Event()
    first, second = HomeLock(tmp_path, stop=asyncio.Event()), HomeLock(tmp_path, stop=stop)
    async with first.held():
        waiting = asyncio.create_task(_hold(second))
        stop.set()
        assert await asyncio.wait_for(waiting, timeout=10) is False


async def test_a_home_is_free_again_once_its_holder_has_gone(tmp_path: Path) -> None:
    lock = HomeLock(tmp_path / "home", stop=asyncio.Event())
    assert await _hold(lock) is True
    assert await asyncio.wait_for(_hold(lock), timeout=10) is True


async def _hold(lock: HomeLock) -> bool:
    async with lock.held() as held:
        return held
