"""`infra-service`: consumes ansible:deploy:queue and provisioner:queue; stopped by SIGTERM.

Every consumer is essential: when one ends while nobody asked the service to stop, the others
are wound down and the process exits non-zero for its supervisor to restart it, rather than stay
up deaf to a queue. SIGTERM stops it whatever its tasks do."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from shared.logging import configure_logging
from shared.signals import stop_on_signals
from shared.streams import ConsumerOptions, Handler, StreamConsumer, raise_if_cancelled
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


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    # Tasks still running after they were cancelled, or cancelled only after the grace period
    # (a playbook in a worker thread goes on until it ends): the process must not wait for them.
    forced: list[str]


async def supervise(
    jobs: Mapping[str, Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    *,
    wind_down: Callable[[], None],
    grace_s: float,
) -> Outcome:
    """Run `jobs` until `stop` is set or one of them ends, then set `stop` and `wind_down`:
    the jobs get `grace_s` to finish the entries they hold; whatever still runs is cancelled.

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
    ended = [task for task in tasks if task in done]
    for task in ended:
        log.error(
            "an essential task ended; the service stops to be restarted",
            task=tasks[task],
            error=_error(task),
        )
    stop.set()
    wind_down()
    _, pending = await asyncio.wait(tasks, timeout=grace_s)
    forced = sorted(tasks[task] for task in pending)
    if pending:
        log.warning("tasks still busy after the grace period; cancelling them", tasks=forced)
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=grace_s)
    crashed = [task for task in tasks if _error(task) is not None and task not in ended]
    for task in crashed:
        log.error("a task failed while stopping", task=tasks[task], error=_error(task))
    return Outcome(1 if ended or crashed else 0, forced)


def _error(task: asyncio.Task[None]) -> str | None:
    if not task.done() or task.cancelled():
        return None
    error = task.exception()
    return None if error is None else repr(error)


async def serve(deps: Container, stop: asyncio.Event) -> Outcome:
    interval_ms = deps.settings.loop_lag_probe_ms
    probe = asyncio.create_task(watch_loop_lag(interval_ms / 1000)) if interval_ms else None
    running = consumers(deps)

    def stop_consumers() -> None:
        for consumer in running:
            consumer.stop()

    try:
        return await supervise(
            {f"{c.stream} {c.consumer}": c.run() for c in running},
            stop,
            wind_down=stop_consumers,
            grace_s=deps.settings.shutdown_grace_s,
        )
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
            raise_if_cancelled()
            before = loop.time()
            await asyncio.sleep(interval_s)
            lag = loop.time() - before - interval_s
            worst, samples = max(worst, lag), samples + 1
            if lag > STALL_WARNING_S:
                log.warning("event loop stalled", lag_ms=round(lag * 1000, 1))
    finally:
        log.info("event loop lag", worst_ms=round(worst * 1000, 1), samples=samples)


async def run(settings: InfraSettings) -> int:
    outcome = await serve(bootstrap(settings), stop_on_signals())
    if outcome.forced:
        # A job cancelled mid-playbook leaves its worker thread running, and asyncio.run would
        # wait for that thread: exit without it (its entry stays pending, to be reclaimed).
        log.error("tasks did not finish in time; exiting without them", tasks=outcome.forced)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(outcome.exit_code or 1)
    return outcome.exit_code


def main() -> None:
    settings = InfraSettings()
    configure_logging("infra-service", json=settings.log_json, level=settings.log_level)
    raise SystemExit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
