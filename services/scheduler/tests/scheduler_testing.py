"""Helpers for the scheduler's tests: the scheduler as a real process, and its run history."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from scheduler.config import SchedulerSettings
from shared.contracts import SchedulerRun
from shared.testing.processes import ServiceProcess, settings_env
from shared.testing.waiting import eventually

SCHEDULER = str(Path(sys.executable).parent / "scheduler")
RUNS = "scheduler:runs"
# Every job off: a test turns on the ones it is about.
NO_JOBS = {
    "streams_interval_s": 0,
    "server_health_interval_s": 0,
    "provisioning_interval_s": 0,
    "server_sync_interval_s": 0,
    "repository_sync_interval_s": 0,
    "stale_work_interval_s": 0,
}


def scheduler_settings(
    *, redis_url: str, api_url: str, api_key: str, **fields: Any
) -> SchedulerSettings:
    """Settings for a test: short lease and poll, no jitter, only the jobs `fields` turn on."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "api_url": api_url,
        "api_key": api_key,
        "lease_s": 3,
        "poll_s": 0.2,
        "jitter": 0,
        "shutdown_grace_s": 10,
        "server_provider": "none",
        "log_level": "DEBUG",
        **NO_JOBS,
    }
    return SchedulerSettings(**(values | fields))


class SchedulerProcess:
    """One scheduler replica; its log in `log`."""

    def __init__(
        self, settings: SchedulerSettings, log: Path, *, extra_env: dict[str, str] | None = None
    ) -> None:
        self.settings, self.log = settings, log
        env = {"PATH": os.environ["PATH"], "HOME": str(log.parent)} | (extra_env or {})
        self.process = ServiceProcess([SCHEDULER], env | settings_env(settings), log)

    def stop(self) -> int:
        return self.process.stop()

    def kill(self) -> None:
        self.process.process.send_signal(signal.SIGKILL)
        self.process.process.wait(30)


async def runs(redis: Redis, job: str | None = None) -> list[SchedulerRun]:
    """The run history, oldest first (of one job, if named)."""
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(RUNS))
    found = [SchedulerRun.model_validate(json.loads(fields["data"])) for _, fields in entries]
    return [run for run in found if job is None or run.job == job]


async def wait_for_runs(
    redis: Redis, job: str, count: int, within: float = 60
) -> list[SchedulerRun]:
    """The job's history once it holds at least `count` runs."""

    async def enough() -> list[SchedulerRun] | None:
        found = await runs(redis, job)
        return found if len(found) >= count else None

    found = await eventually(enough, within)
    assert found is not None, f"fewer than {count} runs of {job} within {within} s"
    return found
