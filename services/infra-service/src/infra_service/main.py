"""`infra-service`: consumes ansible:deploy:queue and provisioner:queue; stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import functools

import structlog
from shared.logging import configure_logging
from shared.signals import stop_on_signals
from shared.streams import ConsumerOptions, Handler, StreamConsumer, run_consumers
from shared.streams.registry import ANSIBLE_DEPLOY_QUEUE, PROVISIONER_QUEUE

from infra_service.bootstrap import Container, bootstrap
from infra_service.config import InfraSettings
from infra_service.handlers.deploy import handle_deploy
from infra_service.handlers.provision import handle_provision

GROUP = "infra-service"
# A stall this long is worth a warning: every consumer of the process waited that long.
STALL_WARNING_S = 0.05

log = structlog.get_logger("infra_service")


def consumers(deps: Container) -> list[StreamConsumer]:
    """Several consumers per queue: that many jobs in flight, each on its own entry."""
    settings = deps.settings
    # An entry is reclaimed only after the longest job could have ended, not while it runs.
    # One entry per read: a consumer holding a batch would run its jobs one after the other
    # while the other consumers of the queue sit idle.
    options = ConsumerOptions(
        claim_idle_ms=int((settings.job_timeout_s + 120) * 1000), batch_size=1
    )
    plan: list[tuple[str, Handler, int]] = [
        (
            ANSIBLE_DEPLOY_QUEUE.pattern,
            functools.partial(handle_deploy, deps=deps),
            settings.deploy_concurrency,
        ),
        (
            PROVISIONER_QUEUE.pattern,
            functools.partial(handle_provision, deps=deps),
            settings.provision_concurrency,
        ),
    ]
    return [
        StreamConsumer(
            deps.redis,
            stream=stream,
            group=GROUP,
            consumer=f"{settings.consumer_name}:{stream}:{slot}",
            handler=handler,
            options=options,
        )
        for stream, handler, count in plan
        for slot in range(count)
    ]


async def serve(deps: Container, stop: asyncio.Event) -> None:
    interval_ms = deps.settings.loop_lag_probe_ms
    probe = asyncio.create_task(watch_loop_lag(interval_ms / 1000)) if interval_ms else None
    try:
        await run_consumers(*consumers(deps), stop=stop)
    finally:
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
        await deps.http.aclose()
        await deps.redis.aclose()


async def watch_loop_lag(interval_s: float) -> None:
    """How much later than asked the loop wakes from a sleep: how long something held it."""
    loop = asyncio.get_running_loop()
    worst, samples = 0.0, 0
    try:
        while True:
            before = loop.time()
            await asyncio.sleep(interval_s)
            lag = loop.time() - before - interval_s
            worst, samples = max(worst, lag), samples + 1
            if lag > STALL_WARNING_S:
                log.warning("event loop stalled", lag_ms=round(lag * 1000, 1))
    finally:
        log.info("event loop lag", worst_ms=round(worst * 1000, 1), samples=samples)


async def run(settings: InfraSettings) -> None:
    await serve(bootstrap(settings), stop_on_signals())


def main() -> None:
    settings = InfraSettings()
    configure_logging("infra-service", json=settings.log_json, level=settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
