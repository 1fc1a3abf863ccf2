"""`worker-manager`: consumes worker:commands (COMMAND_CONCURRENCY consumers, so a create waiting
for an image build holds up no other command) and worker:lifecycle, and watches the workers.

Every one of those tasks is essential: when one ends while nobody asked the service to stop, the
others are wound down and the process exits non-zero for its supervisor to restart it, rather than
stay up deaf to a stream. SIGTERM stops it whatever its tasks do."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from shared.logging import configure_logging
from shared.signals import stop_on_signals
from shared.streams import ConsumerOptions, StreamConsumer, raise_if_cancelled
from shared.streams.registry import WORKER_COMMANDS, WORKER_LIFECYCLE

from worker_manager.bootstrap import Container, bootstrap
from worker_manager.config import ManagerSettings
from worker_manager.handlers.commands import handle_command
from worker_manager.handlers.lifecycle import (
    handle_death,
    handle_lifecycle,
    remove_ended,
    watch_workers,
)

log = structlog.get_logger("worker_manager")


async def watch_forever(deps: Container, stop: asyncio.Event) -> None:
    next_gc = 0.0
    while not stop.is_set():
        raise_if_cancelled()
        await watch_workers(deps)
        await remove_ended(deps)
        images = getattr(deps.backend, "images", None)
        if images is not None and time.monotonic() >= next_gc:
            removed = await images.collect_garbage(deps.settings.image_gc_days)
            if removed:
                log.info("removed unused worker images", tags=removed)
            next_gc = time.monotonic() + deps.settings.image_gc_interval_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), deps.settings.monitor_interval_s)


async def follow_deaths(deps: Container, stop: asyncio.Event) -> None:
    """Engines that report deaths as events (docker) are followed as well as watched."""
    deaths = getattr(deps.backend, "deaths", None)
    if deaths is None:
        return
    while not stop.is_set():
        raise_if_cancelled()
        try:
            async for worker_id, exit_code in deaths():
                raise_if_cancelled()
                await handle_death(worker_id, exit_code, deps=deps)
        except Exception:
            log.exception("the engine's event stream broke; following it again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), deps.settings.monitor_interval_s)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stragglers: list[str]  # tasks still running after they were cancelled


async def supervise(
    jobs: Mapping[str, Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    *,
    wind_down: Callable[[], None],
    graceful: Collection[str],
    grace_s: float,
) -> Outcome:
    """Run `jobs` until `stop` is set or one of them ends. Then `stop` is set and `wind_down`
    called; the `graceful` jobs get `grace_s` to finish what they hold, the others are cancelled
    at once, and whatever is still running after that is cancelled and given `grace_s` more.

    The exit code is 1 when a job ended (or failed) before it was asked to stop."""
    tasks = {asyncio.create_task(job, name=name): name for name, job in jobs.items()}
    asked = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, asked], return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    finally:
        asked.cancel()
    failed = [task for task in tasks if task in done]
    for task in failed:
        log.error(
            "an essential task ended; the service stops to be restarted",
            task=tasks[task],
            error=_error(task),
        )
    stop.set()
    wind_down()
    for task, name in tasks.items():
        if name not in graceful:
            task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=grace_s)
    if pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace_s)
    crashed = [task for task in tasks if task.done() and _error(task) is not None]
    for task in crashed:
        if task not in failed:
            log.error("a task failed while stopping", task=tasks[task], error=_error(task))
    stragglers = sorted(tasks[task] for task in pending)
    return Outcome(1 if failed or crashed else 0, stragglers)


def _error(task: asyncio.Task[None]) -> str | None:
    if not task.done() or task.cancelled():
        return None
    error = task.exception()
    return None if error is None else repr(error)


async def serve(deps: Container, stop: asyncio.Event) -> Outcome:
    settings = deps.settings
    name = settings.consumer_name
    # One entry at a time per consumer; a create still running when its entry is handed to
    # another consumer is refused there (RequestInProgress), not run twice.
    commands = ConsumerOptions(
        batch_size=1,
        claim_idle_ms=int(settings.command_claim_idle_s * 1000),
        claim_interval_s=settings.command_claim_idle_s / 2,
    )
    consumers = [
        *(
            StreamConsumer(
                deps.redis,
                stream=WORKER_COMMANDS.pattern,
                group="worker-manager",
                consumer=f"{name}:commands-{index}",
                handler=functools.partial(handle_command, deps=deps),
                options=commands,
            )
            for index in range(settings.command_concurrency)
        ),
        StreamConsumer(
            deps.redis,
            stream=WORKER_LIFECYCLE.pattern,
            group="worker-manager",
            consumer=name,
            handler=functools.partial(handle_lifecycle, deps=deps),
        ),
    ]
    jobs: dict[str, Coroutine[Any, Any, None]] = {
        f"{consumer.stream} {consumer.consumer}": consumer.run() for consumer in consumers
    }
    jobs["watcher"] = watch_forever(deps, stop)
    if getattr(deps.backend, "deaths", None) is not None:
        jobs["engine events"] = follow_deaths(deps, stop)

    def stop_consumers() -> None:
        for consumer in consumers:
            consumer.stop()

    try:
        return await supervise(
            jobs,
            stop,
            wind_down=stop_consumers,
            graceful={job for job in jobs if job != "engine events"},
            grace_s=settings.shutdown_grace_s,
        )
    finally:
        await deps.http.aclose()
        await deps.redis.aclose()


async def run(settings: ManagerSettings) -> int:
    outcome = await serve(bootstrap(settings), stop_on_signals())
    if outcome.stragglers:
        # A task that survives its cancellation would keep asyncio.run from ever returning.
        log.error("tasks did not stop; exiting without them", tasks=outcome.stragglers)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(outcome.exit_code or 1)
    return outcome.exit_code


def main() -> None:
    settings = ManagerSettings()
    configure_logging("worker-manager", json=settings.log_json, level=settings.log_level)
    raise SystemExit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
