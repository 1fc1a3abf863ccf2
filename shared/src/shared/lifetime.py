"""When a service stops, and why: what its handlers and tasks may know of the runtime without
importing it (this module needs nothing but asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class StopReason(StrEnum):
    ASKED = "asked to stop"
    FINISHED = "its work is done"
    TASK_ENDED = "a task ended on its own"


class Lifetime:
    """When the service stops, and why. Handed to every background task and to `bootstrap`."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.reason: StopReason | None = None
        self.exit_code = 0
        self._on_stop: list[Callable[[], None]] = []

    def stop(self, reason: StopReason = StopReason.ASKED, *, exit_code: int = 0) -> None:
        """Ask the service to stop; the first reason given is the one that counts. The
        consumers are told at once, so none reads another entry after this call."""
        if self.reason is None:
            self.reason, self.exit_code = reason, exit_code
        self.stopping.set()
        callbacks, self._on_stop = self._on_stop, []
        for callback in callbacks:
            callback()

    def when_stopping(self, callback: Callable[[], None]) -> None:
        """Call `callback` (synchronously) as soon as the service is asked to stop."""
        if self.stopping.is_set():
            callback()
        else:
            self._on_stop.append(callback)

    def finish(self, exit_code: int = 0) -> None:
        """The service's work is done: stop, exiting with `exit_code`."""
        self.stop(StopReason.FINISHED, exit_code=exit_code)

    async def sleep(self, seconds: float) -> bool:
        """Wait `seconds` or until the service stops; True when it is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()


@dataclass(frozen=True)
class Ending:
    """How a service ended: why, its exit code, and the tasks that did not end well."""

    reason: StopReason
    exit_code: int
    failed: Mapping[str, str] = field(default_factory=dict)  # task → what ended or broke it
    forced: Sequence[str] = ()  # tasks still running after the grace period
