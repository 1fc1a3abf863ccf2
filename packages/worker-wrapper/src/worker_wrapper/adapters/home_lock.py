"""One agent turn at a time in an agent's home.

A PO worker's home is its user's, kept across their workers (worker-manager gives every PO worker
of a user the same workspace), so two workers of one user may be alive at once: their agents
would write the same session files and configuration (Claude Code's `~/.claude.json` does not
survive two writers). Each turn holds an exclusive `flock` on a file in the home, which works
across processes and across containers sharing the volume; a lock is released when its holder
dies, so a killed worker never leaves the home locked.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

import structlog

log = structlog.get_logger("worker_wrapper")

LOCK_FILE = ".turn.lock"


class HomeLock:
    def __init__(self, home: Path, *, stop: asyncio.Event, poll_s: float = 0.1) -> None:
        self._path = home / LOCK_FILE
        self._stop = stop
        self._poll_s = poll_s

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[bool]:
        """Hold the lock for the block: True once held, False if the worker was stopped while
        it waited (the block must then do nothing)."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not _try_lock(fd):
                log.info("another turn holds the agent's home: waiting for it")
            while not _try_lock(fd):
                if self._stop.is_set():
                    yield False
                    return
                # Polled rather than blocking in a thread, so a stop is seen within a poll.
                await asyncio.sleep(self._poll_s)
            yield True
        finally:
            os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
