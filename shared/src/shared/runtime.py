"""One way to run a service process, the same in every cube.

A cube's `bootstrap.py` turns its settings into a `Service`: the stream consumers, the background
tasks, the resources to close. `main()` reads the settings, configures logging and runs it:

- the consumers and tasks run side by side;
- SIGTERM or SIGINT (or `Lifetime.stop()`) stops the consumers: the entry each one holds is
  finished and acknowledged, then `run()` returns; the tasks see `lifetime.stopping` and return;
- `Lifetime.finish(code)` does the same when the service's work is done (a one-task worker);
- a consumer or task that ends on its own, or fails, stops the others and the process exits 1
  for its supervisor to restart it, rather than stay up deaf to a stream;
- what is still running after `grace_s` is cancelled; what survives that too is left behind
  (`os._exit`): a thread in a playbook would otherwise keep the process alive;
- the resources are closed last-opened first, and a last log line says why the service stopped;
- with `HEALTH_FILE` set, the file is rewritten every `HEALTH_INTERVAL_S` from the event loop
  while every consumer and task runs, and removed as the service stops: a missing or stale file
  (`codegen-health`, `shared.health`) is a process stopping, dead or wedged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

import structlog
from pydantic import ValidationError

from shared.health import remove_health_file, write_health_file
from shared.lifetime import Ending, Lifetime, StopReason
from shared.logging import configure_logging
from shared.settings import ServiceSettings
from shared.streams import StreamConsumer, raise_if_cancelled

__all__ = [
    "EXIT_BAD_SETTINGS",
    "EXIT_FAILED",
    "BackgroundTask",
    "Closeable",
    "Ending",
    "Lifetime",
    "Service",
    "StopReason",
    "close_all",
    "keep_health_file",
    "main",
    "run",
    "serve",
    "watch_loop_lag",
]

log = structlog.get_logger("shared.runtime")

EXIT_FAILED = 1
EXIT_BAD_SETTINGS = 2
# A loop stall this long is worth a warning: every consumer of the process waited that long.
STALL_WARNING_S = 0.05

S = TypeVar("S", bound=ServiceSettings)


class Closeable(Protocol):
    async def aclose(self) -> None: ...


BackgroundTask = Callable[[Lifetime], Coroutine[Any, Any, None]]


@dataclass
class Service:
    name: str
    consumers: Sequence[StreamConsumer] = ()
    tasks: Mapping[str, BackgroundTask] = field(default_factory=dict)
    # Tasks with nothing to finish: cancelled as soon as the service stops.
    cancel_at_once: Collection[str] = ()
    # Closed after every task has ended, the last one first.
    resources: Sequence[Closeable] = ()
    grace_s: float = 20.0
    # The exit code when the service was asked to stop (a worker says 143, SIGTERM's).
    exit_code_when_asked: int = 0
    # Runs before any consumer or task starts; a failure there ends the service (exit 1).
    on_start: Callable[[], Awaitable[None]] | None = None
    # Runs after the tasks have ended and before the resources are closed.
    on_stop: Callable[[Ending], Awaitable[None]] | None = None
    # How often to measure the event loop's lag (0: never); worst and stalls are logged.
    loop_lag_probe_s: float = 0.0
    # Rewritten every `health_interval_s` while the service is healthy (None: no file); `main()`
    # sets both from the settings' HEALTH_FILE and HEALTH_INTERVAL_S.
    health_file: Path | None = None
    health_interval_s: float = 5.0


async def serve(service: Service, lifetime: Lifetime) -> Ending:
    """Run `service` until it stops (see the module's text); never raises for a task's failure."""
    if service.on_start is not None:
        try:
            await service.on_start()
        except Exception as exc:
            log.exception("the service could not start")
            lifetime.stop(StopReason.TASK_ENDED, exit_code=EXIT_FAILED)
            return Ending(StopReason.TASK_ENDED, EXIT_FAILED, {"on_start": repr(exc)}, [])
    for consumer in service.consumers:
        lifetime.when_stopping(consumer.stop)
    jobs: dict[str, Coroutine[Any, Any, None]] = {
        f"{consumer.stream} {consumer.consumer}": consumer.run() for consumer in service.consumers
    }
    jobs.update({name: task(lifetime) for name, task in service.tasks.items()})
    tasks = {asyncio.create_task(job, name=name): name for name, job in jobs.items()}
    probe = (
        asyncio.create_task(watch_loop_lag(service.loop_lag_probe_s))
        if service.loop_lag_probe_s
        else None
    )
    heartbeat = (
        asyncio.create_task(
            keep_health_file(
                service.health_file,
                service=service.name,
                interval_s=service.health_interval_s,
                lifetime=lifetime,
                alive=lambda: not any(task.done() for task in tasks),
            )
        )
        if service.health_file is not None
        else None
    )
    asked = asyncio.create_task(lifetime.stopping.wait())
    try:
        done, _ = await asyncio.wait([*tasks, asked], return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        for task in tasks:
            task.cancel()
        if heartbeat is not None:
            heartbeat.cancel()
        raise
    finally:
        asked.cancel()
    # A task that ended as the service was told to stop (in the same turn) ended because of it.
    failed = {
        tasks[task]: _ended(task)
        for task in tasks
        if task in done and (asked not in done or _error(task) is not None)
    }
    for name, why in failed.items():
        log.error("an essential task ended; the service stops", task=name, error=why)
    if failed:
        lifetime.stop(StopReason.TASK_ENDED, exit_code=EXIT_FAILED)
    lifetime.stop()
    for consumer in service.consumers:
        consumer.stop()
    if heartbeat is not None:
        await heartbeat  # sees `lifetime.stopping` at once and removes the file
    for task, name in tasks.items():
        if name in service.cancel_at_once:
            task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=service.grace_s)
    forced = sorted(tasks[task] for task in pending)
    if pending:
        log.warning("tasks still busy after the grace period; cancelling them", tasks=forced)
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=service.grace_s)
    for task, name in tasks.items():
        error = _error(task)
        if error is not None and name not in failed:
            log.error("a task failed while stopping", task=name, error=error)
            failed[name] = error
    if probe is not None:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
    reason = lifetime.reason or StopReason.ASKED
    exit_code = lifetime.exit_code
    if reason is StopReason.ASKED:
        exit_code = service.exit_code_when_asked
    if failed or forced:
        exit_code = exit_code or EXIT_FAILED
    return Ending(reason, exit_code, failed, forced)


async def run(build: Callable[[Lifetime], Service], lifetime: Lifetime | None = None) -> int:
    """Build the service inside the loop, serve it until it stops, close its resources; the
    exit code. Leaves at once (`os._exit`) when a task outlived its cancellation."""
    lifetime = lifetime or Lifetime()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lifetime.stop)
    service = build(lifetime)
    try:
        ending = await serve(service, lifetime)
        if service.on_stop is not None:
            try:
                await service.on_stop(ending)
            except Exception as exc:
                log.exception("the service's last words failed")
                ending = Ending(
                    ending.reason,
                    ending.exit_code or EXIT_FAILED,
                    {**ending.failed, "on_stop": repr(exc)},
                    ending.forced,
                )
    finally:
        await close_all(service.resources)
    log.info(
        "service stopped",
        service=service.name,
        reason=ending.reason.value,
        exit_code=ending.exit_code,
        failed=dict(ending.failed) or None,
        forced=list(ending.forced) or None,
    )
    if ending.forced:
        # A task cancelled mid-way may leave a thread running, and asyncio.run would wait for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(ending.exit_code)
    return ending.exit_code


async def close_all(resources: Sequence[Closeable]) -> None:
    """Close each resource, the last one first; one failing to close does not keep the others
    open."""
    for resource in reversed(resources):
        try:
            await resource.aclose()
        except Exception:
            log.exception("a resource failed to close", resource=type(resource).__name__)


def main(
    settings_type: type[S],
    build: Callable[[S, Lifetime], Service],
    *,
    name: str | Callable[[S], str],
) -> NoReturn:
    """A service's `main()`: settings from the environment (bad ones: exit 2 with every field at
    fault named), logging configured, the service run; exits with its exit code."""
    label = name if isinstance(name, str) else settings_type.__name__
    try:
        settings = settings_type()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"{label}: invalid setting {where.upper()}: {error['msg']}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_SETTINGS) from None
    if not isinstance(name, str):
        label = name(settings)
    configure_logging(label, json=settings.log_json, level=settings.log_level)

    def build_with_health_file(lifetime: Lifetime) -> Service:
        service = build(settings, lifetime)
        if settings.health_file is not None:
            service.health_file = settings.health_file
            service.health_interval_s = settings.health_interval_s
        return service

    raise SystemExit(asyncio.run(run(build_with_health_file)))


def _ended(task: asyncio.Task[None]) -> str:
    return _error(task) or "returned"


def _error(task: asyncio.Task[None]) -> str | None:
    if not task.done() or task.cancelled():
        return None
    error = task.exception()
    return None if error is None else repr(error)


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


async def keep_health_file(
    path: Path,
    *,
    service: str,
    interval_s: float,
    lifetime: Lifetime,
    alive: Callable[[], bool],
) -> None:
    """Rewrite `path` now and every `interval_s` while `alive()` and the service is not stopping;
    remove it when the service stops. Written from the event loop, so a wedged loop leaves it to
    go stale. A file that cannot be written is a warning (once until it can be again), never the
    end of the service."""
    failing = False
    try:
        while not lifetime.stopping.is_set():
            if alive():
                try:
                    write_health_file(path, service)
                except Exception as exc:
                    if not failing:
                        log.warning("cannot write the health file", path=str(path), error=repr(exc))
                    failing = True
                else:
                    failing = False
            if await lifetime.sleep(interval_s):
                break
    finally:
        remove_health_file(path)
