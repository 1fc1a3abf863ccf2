"""One lane per user: their messages are handled one at a time, in the order they came, while
other users' lanes run beside them.

`submit` takes its place in the lane at once, without awaiting anything, so the order of the
calls is the order of handling whatever the caller awaits afterwards.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

Job = Callable[[], Awaitable[None]]

log = structlog.get_logger("telegram_bot")


class Lanes:
    def __init__(self) -> None:
        self._waiting: dict[str, deque[Job]] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, key: str, job: Job) -> None:
        """Queue `job` behind the key's earlier jobs."""
        self._waiting.setdefault(key, deque()).append(job)
        if key not in self._runners:
            self._idle.clear()
            self._runners[key] = asyncio.create_task(self._run(key), name=f"lane {key}")

    def waiting(self, key: str) -> int:
        """Jobs of the key not finished yet (the one running included)."""
        return len(self._waiting.get(key, ()))

    @property
    def busy(self) -> bool:
        return bool(self._runners)

    async def idle(self) -> None:
        """Return once every lane is empty."""
        await self._idle.wait()

    async def cancel(self) -> None:
        """Stop every lane now: the job running is cancelled, the waiting ones dropped."""
        runners = list(self._runners.values())
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)

    async def _run(self, key: str) -> None:
        queue = self._waiting[key]
        try:
            while queue:
                try:
                    await queue[0]()
                except Exception:
                    # A job answers for its own failures; one that did not must not stop the lane.
                    log.exception("a job of a lane failed", lane=key)
                queue.popleft()
        finally:
            del self._runners[key]
            if not queue:
                del self._waiting[key]
            if not self._runners:
                self._idle.set()
