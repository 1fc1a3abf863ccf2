"""Helpers for worker-manager's tests (on pytest's pythonpath as `manager_testing`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from shared.contracts import WorkerResponse
from shared.testing.waiting import eventually

WRAPPER = str(Path(sys.executable).parent / "worker-wrapper")
MANAGER = str(Path(sys.executable).parent / "worker-manager")
HELD_MANAGER = Path(__file__).with_name("held_manager.py")
LOG_TAIL_CHARS = 4000


class ManagerProcess:
    """A worker-manager replica as a process of its own; its output goes to a log file that a
    failing test shows. `hold_dir` runs the replica whose starts can be held (held_manager.py)."""

    def __init__(self, env: dict[str, str], log: Path, hold_dir: Path | None = None) -> None:
        self.log = log
        argv = [MANAGER] if hold_dir is None else [sys.executable, str(HELD_MANAGER), str(hold_dir)]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not end within 30 s; prints the log's tail (pytest
        shows it when the test failed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        print(f"--- {self.log.name} ---\n{self.log.read_text()[-LOG_TAIL_CHARS:]}")
        return self.process.returncode


def manager_env(redis_url: str, data_dir: Path, **settings: object) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "REDIS_URL": redis_url,
        "DATA_DIR": str(data_dir),
        "WRAPPER_COMMAND": WRAPPER,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


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
