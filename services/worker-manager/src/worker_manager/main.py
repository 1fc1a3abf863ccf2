"""`worker-manager`: consumes worker:commands (COMMAND_CONCURRENCY consumers, so a create waiting
for an image build holds up no other command) and worker:lifecycle, and watches the workers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time

import structlog
from shared.logging import configure_logging
from shared.signals import stop_on_signals
from shared.streams import ConsumerOptions, StreamConsumer
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
        try:
            async for worker_id, exit_code in deaths():
                await handle_death(worker_id, exit_code, deps=deps)
        except Exception:
            log.exception("the engine's event stream broke; following it again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), deps.settings.monitor_interval_s)


async def serve(deps: Container, stop: asyncio.Event) -> None:
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

    async def stop_consumers() -> None:
        await stop.wait()
        for consumer in consumers:
            consumer.stop()
        deaths.cancel()

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(stop_consumers())
            tasks.create_task(watch_forever(deps, stop))
            deaths = tasks.create_task(follow_deaths(deps, stop))
            for consumer in consumers:
                tasks.create_task(consumer.run())
    finally:
        await deps.http.aclose()
        await deps.redis.aclose()


async def run(settings: ManagerSettings) -> None:
    await serve(bootstrap(settings), stop_on_signals())


def main() -> None:
    settings = ManagerSettings()
    configure_logging("worker-manager", json=settings.log_json, level=settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
