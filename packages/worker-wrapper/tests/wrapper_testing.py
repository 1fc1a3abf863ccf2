"""Helpers for the wrapper's tests (on pytest's pythonpath as `wrapper_testing`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from shared.contracts import WorkerLifecycleEvent
from shared.testing.waiting import eventually

MOCK_AGENT = Path(__file__).with_name("mock_agent.py")
ROOT = Path(__file__).resolve().parents[3]
WRAPPER = Path(sys.executable).parent / "worker-wrapper"
LOG_TAIL_CHARS = 4000


def agent_binary(name: str) -> str:
    """A real agent CLI installed by `make agents`; missing is a failure, never a skip."""
    directory = Path(os.environ.get("CODEGEN_AGENTS_BIN", ROOT / "tools/agents/node_modules/.bin"))
    binary = directory / name
    if not binary.exists():
        raise AssertionError(f"{binary} is missing: run `make agents`")
    return str(binary)


def make_bare_repo(root: Path) -> Path:
    """A bare repository with one commit on main, as a forge would hold it."""
    seed, bare = root / "seed", root / "origin.git"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "README.md").write_text("# project\n")
    git = ["git", "-C", str(seed), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    return bare


def branch_head(bare: Path, branch: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(bare), "rev-parse", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def file_at(bare: Path, branch: str, path: str) -> str:
    shown = subprocess.run(
        ["git", "-C", str(bare), "show", f"{branch}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout


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


class Wrapper:
    """A `worker-wrapper` process; its stdout and stderr go to a log file the failures show."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as sink:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [str(WRAPPER)], env=env, stdout=sink, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-chars:]

    def describe(self) -> str:
        return f"wrapper pid {self.pid} (exit {self.process.poll()}), log tail:\n{self.log_tail()}"

    async def exited(self, within: float = 60) -> int:
        """Wait for the wrapper to end by itself; its exit code."""

        async def ended() -> list[int]:
            code = self.process.poll()
            return [] if code is None else [code]

        try:
            [code] = await eventually(ended, within=within)
        except AssertionError:
            raise AssertionError(
                f"the wrapper did not exit within {within} s; {self.describe()}"
            ) from None
        return code

    async def stop(self, within: float = 30) -> int:
        """SIGTERM, as worker-manager stops a worker; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.exited(within)

    async def close(self) -> None:
        """Stop the wrapper and everything it started, whatever state they are in."""
        tree = descendants(self.pid) if self.process.poll() is None else []
        try:
            await self.stop()
        except AssertionError:
            self.process.kill()
            self.process.wait(10)
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
