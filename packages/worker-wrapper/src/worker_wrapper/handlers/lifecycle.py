"""The worker's life around its work: STARTED and the heartbeat while it runs, its last words
when it stops."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shared.contracts import LifecycleEventKind

from worker_wrapper.domain.ending import WhyStopped, last_words
from worker_wrapper.ports import Heartbeat, Lifecycle, Stopping


async def keep_alive(
    lifetime: Stopping,
    *,
    prepare: Callable[[], None],
    lifecycle: Lifecycle,
    heartbeat: Heartbeat,
    interval_s: float,
) -> None:
    """`prepare` what the handlers need (before the first await: before any input is read),
    beat, say STARTED, then beat every `interval_s` until the worker stops."""
    prepare()
    await heartbeat.beat()
    await lifecycle.report(LifecycleEventKind.STARTED)
    while not await lifetime.sleep(interval_s):
        await heartbeat.beat()


async def say_last_words(
    why: WhyStopped,
    *,
    exit_code: int,
    failures: Mapping[str, str],
    lifecycle: Lifecycle,
    heartbeat: Heartbeat,
) -> None:
    """The event that says how the worker ended (if the handler has not said it), then the
    heartbeat goes: a stopped worker says nothing."""
    try:
        words = last_words(why, exit_code=exit_code, failures=failures)
        if words is not None:
            await lifecycle.report(words.event, exit_code=words.exit_code, error=words.error)
    finally:
        await heartbeat.clear()
