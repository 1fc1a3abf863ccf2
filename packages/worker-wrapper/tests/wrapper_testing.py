"""Helpers for the wrapper's tests (on pytest's pythonpath as `wrapper_testing`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from shared.contracts import WorkerLifecycleEvent
from shared.testing.processes import ServiceProcess
from shared.testing.waiting import eventually

MOCK_AGENT = Path(__file__).with_name("mock_agent.py")
ROOT = Path(__file__).resolve().parents[3]
WRAPPER = Path(sys.executable).parent / "worker-wrapper"
# The real claude against the fake Anthropic server (shared.testing.fake_anthropic).
CLAUDE_TEST_ENV = {
    "ANTHROPIC_API_KEY": "sk-ant-fake",
    # A fake that answers at once needs no retries; a broken one should fail fast, not in minutes.
    "CLAUDE_CODE_MAX_RETRIES": "0",
    "API_TIMEOUT_MS": "30000",
    "AGENT_EXTRA_ENV": "CLAUDE_CODE_MAX_RETRIES,API_TIMEOUT_MS",
}


def agent_binary(name: str) -> str:
    """A real agent CLI installed by `make agents`; missing is a failure, never a skip."""
    directory = Path(os.environ.get("CODEGEN_AGENTS_BIN", ROOT / "tools/agents/node_modules/.bin"))
    binary = directory / name
    if not binary.exists():
        raise AssertionError(f"{binary} is missing: run `make agents`")
    return str(binary)


def wrapper_env(redis_url: str, workspace: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(workspace / "wrapper-home"),
        "WORKER_ID": "dev-1",
        "WORKER_TYPE": "developer",
        "REDIS_URL": redis_url,
        "AGENT_TYPE": "claude",
        "CLAUDE_BIN": str(MOCK_AGENT),
        "WORKSPACE_DIR": str(workspace),
        "AGENT_TIMEOUT_S": "60",
        "KILL_GRACE_S": "1",
        "HEARTBEAT_TTL_S": "3",
        "LOG_FORMAT": "json",
        "AGENT_EXTRA_ENV": "MOCK_AGENT_BEHAVIOUR,MOCK_COMMIT,MOCK_PID_FILE,MOCK_GO_FILE",
        "API_KEY": "cgo_secret_worker_key",
    }
    env.update(overrides)
    return env


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat): a pid's identity."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def descendants(pid: int) -> list[tuple[int, str]]:
    """The process tree under `pid` (agents run in sessions of their own but stay its children),
    each as (pid, start time) so a reused pid is never mistaken for one of them."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(parent, []).append(int(entry.name))
    found: list[tuple[int, str]] = []
    queue = list(parents.get(pid, []))
    while queue:
        child = queue.pop()
        started = _start_time(child)
        if started is not None:
            found.append((child, started))
        queue.extend(parents.get(child, []))
    return found


class Wrapper(ServiceProcess):
    """A `worker-wrapper` process; its stdout and stderr go to a log file the failures show."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__([str(WRAPPER)], env, log)

    def close(self) -> None:
        """Stop the wrapper (SIGTERM, as worker-manager stops a worker; one that has to be killed
        fails the test) and everything it started, whatever state they are in."""
        tree = descendants(self.pid) if self.exit_code is None else []
        try:
            self.stop()
        finally:
            for pid, started in tree:
                if _start_time(pid) == started:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


async def read_stream(redis: Redis, stream: str) -> list[dict[str, Any]]:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
    return [json.loads(fields["data"]) for _, fields in entries]


async def wait_for(
    redis: Redis, stream: str, count: int, within: float = 60, wrapper: Wrapper | None = None
) -> list[dict[str, Any]]:
    """Wait until `stream` holds `count` entries; on failure say what it holds and why."""

    async def filled() -> list[dict[str, Any]]:
        entries = await read_stream(redis, stream)
        return entries if len(entries) >= count else []

    try:
        return await eventually(filled, within=within)
    except AssertionError:
        seen = await read_stream(redis, stream)
        context = f"\n{wrapper.describe()}" if wrapper else ""
        raise AssertionError(
            f"{stream} did not get {count} entries within {within} s: {seen}{context}"
        ) from None


async def wait_for_file(path: Path, within: float = 30, wrapper: Wrapper | None = None) -> None:
    async def present() -> bool:
        return await asyncio.to_thread(path.exists)

    try:
        await eventually(present, within=within)
    except AssertionError:
        context = f"\n{wrapper.describe()}" if wrapper else ""
        raise AssertionError(f"{path} did not appear within {within} s{context}") from None


def logged(log: Path, event: str, **fields: object) -> bool:
    """Whether the JSON log holds `event` with these fields."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event and all(record.get(k) == v for k, v in fields.items()):
            return True
    return False


async def wait_for_log(wrapper: Wrapper, event: str, within: float = 30, **fields: object) -> None:
    """Wait until the wrapper has logged `event` (LOG_FORMAT=json): the way to know it reached a
    given step."""

    async def seen() -> bool:
        return await asyncio.to_thread(logged, wrapper.log, event, **fields)

    try:
        await eventually(seen, within=within)
    except AssertionError:
        raise AssertionError(
            f"the wrapper never logged {event!r} {fields}; {wrapper.describe()}"
        ) from None


async def lifecycle(redis: Redis) -> list[WorkerLifecycleEvent]:
    return [
        WorkerLifecycleEvent.model_validate(e) for e in await read_stream(redis, "worker:lifecycle")
    ]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def scripted_agent_script(root: Path, *steps: dict[str, Any], summary: str = "done") -> Path:
    """A one-turn script for the scripted agent that ends with a success verdict."""
    path = root / "script.json"
    turn = {
        "steps": list(steps),
        "reply": "ok",
        "verdict": {"status": "success", "summary": summary, "data": {}},
    }
    path.write_text(json.dumps({"turns": [turn]}))
    return path
