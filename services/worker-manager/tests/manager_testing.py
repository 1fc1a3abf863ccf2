"""Helpers for worker-manager's tests (on pytest's pythonpath as `manager_testing`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, cast

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from redis.asyncio import Redis
from shared.contracts import WorkerResponse
from shared.testing.processes import ServiceProcess, settings_env
from shared.testing.waiting import eventually
from worker_manager.config import ManagerSettings

WRAPPER = str(Path(sys.executable).parent / "worker-wrapper")
MANAGER = str(Path(sys.executable).parent / "worker-manager")
HELD_MANAGER = Path(__file__).with_name("held_manager.py")


class ManagerProcess(ServiceProcess):
    """A worker-manager replica as a process of its own; its output goes to a log file that a
    failing test shows. `hold_dir` runs the replica whose starts can be held (held_manager.py)."""

    def __init__(self, env: dict[str, str], log: Path, hold_dir: Path | None = None) -> None:
        argv = [MANAGER] if hold_dir is None else [sys.executable, str(HELD_MANAGER), str(hold_dir)]
        super().__init__(argv, env, log)


class ChosenSettings(ManagerSettings):
    """ManagerSettings from what a test gives and the defaults, never from the test's own
    environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def manager_env(redis_url: str, data_dir: Path, **settings: object) -> dict[str, str]:
    """The environment of a replica with these settings (validated here, so a test with a bad
    one fails at once): every setting its variable, and this environment's PATH."""
    chosen = ChosenSettings.model_validate(
        {
            "redis_url": redis_url,
            "data_dir": data_dir,
            "wrapper_command": WRAPPER,
            "log_format": "json",
            "log_level": "INFO",
            **settings,
        }
    )
    return {"PATH": os.environ["PATH"], **settings_env(chosen)}


def kill_workers(worker_ids: list[str]) -> None:
    """Kill the worker processes a test left (workers outlive the manager by design), agents
    included. Found by their environment, never by a pid that may have been reused."""
    for worker_id in worker_ids:
        for pid in worker_processes(worker_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def worker_processes(worker_id: str) -> list[int]:
    """Processes of a worker by its environment: the wrapper and the agents it started, which
    run in sessions of their own."""
    marker = f"WORKER_ID={worker_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


async def entries(redis: Redis, stream: str) -> list[dict[str, Any]]:
    raw = cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
    return [json.loads(fields["data"]) for _, fields in raw]


async def answer_to(redis: Redis, stream: str, request_id: str) -> WorkerResponse | None:
    """The first response on `stream` to the command `request_id`, if there is one yet."""
    for data in await entries(redis, stream):
        if data["request_id"] == request_id:
            return WorkerResponse.model_validate(data)
    return None


async def wait_for_answer(
    redis: Redis, stream: str, request_id: str, within: float = 30
) -> WorkerResponse:
    found = await eventually(lambda: answer_to(redis, stream, request_id), within)
    assert found is not None
    return found


async def worker_ids(redis: Redis) -> list[str]:
    """Every worker worker-manager has a status for."""
    keys = [str(key) async for key in redis.scan_iter("worker:status:*")]
    return [key.removeprefix("worker:status:") for key in keys]
