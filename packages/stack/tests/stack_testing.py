"""A local stack for tests: `codegen up` as a real process on a data directory of the test's,
with the test's agent script; every program it runs is a real process started by the same code
as for a person. Stopped (SIGTERM, as Ctrl-C would) at the end, and nothing of it may survive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from codegen_stack.chat import LocalChat
from codegen_stack.layout import Layout
from codegen_stack.stack import leftovers, running_stack, stop_leftovers
from redis.asyncio import Redis
from shared.testing.waiting import eventually

CODEGEN = str(Path(sys.executable).parent / "codegen")
STARTED_WITHIN_S = 180


@dataclass
class StackProcess:
    """A `codegen up` and what a test needs to talk to it."""

    layout: Layout
    process: subprocess.Popen[bytes]
    output: Path
    state: dict[str, Any] = field(default_factory=dict)
    redis: Redis | None = None
    killed: bool = False
    """The test killed `codegen up` itself: its exit code is not checked, only what it left."""

    @property
    def api_url(self) -> str:
        return str(self.state["api_url"])

    @property
    def api_key(self) -> str:
        return self.layout.read_secrets()["service_key"]

    @property
    def local_user_id(self) -> str:
        return self.layout.read_secrets()["local_user_id"]

    def api(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=30)

    def chat(self, telegram_id: int | None = None) -> LocalChat:
        assert self.redis is not None
        return LocalChat(self.redis, telegram_id or int(self.state["telegram_id"]))

    def pid_of(self, program: str) -> int | None:
        state = self.layout.read_state() or {}
        pid = (state.get("programs") or {}).get(program, {}).get("pid")
        return int(pid) if pid else None

    def starts_of(self, program: str) -> int:
        state = self.layout.read_state() or {}
        return int((state.get("programs") or {}).get(program, {}).get("starts", 0))

    def logs(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""


def up_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only what `codegen` needs: no variable of the person's (their REDIS_URL, their keys)."""
    keep = ("PATH", "LANG", "TZ", "HOME")
    return {k: os.environ[k] for k in keep if k in os.environ} | (extra or {})


@contextlib.asynccontextmanager
async def codegen_up(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[StackProcess]:
    layout = Layout.at(data_dir)
    output = data_dir / "codegen-up.out"
    with output.open("ab") as sink:
        process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [CODEGEN, "up", "--data-dir", str(data_dir), *args],
            env=up_env(env), stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    stack = StackProcess(layout, process, output)
    try:
        stack.state = await _started(stack)
        stack.redis = Redis.from_url(stack.state["redis_url"], decode_responses=True)
        yield stack
    finally:
        try:
            if stack.redis is not None:
                await stack.redis.aclose()
        finally:
            await asyncio.to_thread(stop, stack)


async def _started(stack: StackProcess) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        if stack.process.poll() is not None:
            raise AssertionError(f"codegen up exited {stack.process.returncode}:\n{stack.logs()}")
        state = running_stack(stack.layout)
        return state if state and "api_url" in state else None

    try:
        return await eventually(ready, within=STARTED_WITHIN_S, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()[-4000:]}") from None


def stop(stack: StackProcess, within: float = 180) -> None:
    """SIGTERM, as Ctrl-C: the stack stops in order and leaves nothing. A stack that does not,
    or leaves a process behind, fails the test (after everything is killed anyway)."""
    process = stack.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(within)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    left = leftovers(stack.layout)
    stop_leftovers(stack.layout, grace_s=5)
    print(f"--- codegen up ---\n{stack.logs()[-6000:]}")
    assert stack.killed or process.returncode == 0, f"codegen up exited {process.returncode}"
    assert not left, f"left running after codegen up stopped: {left}"


async def tasks_of(api: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    response = await api.get("/api/tasks", params={"limit": "500", **filters})
    response.raise_for_status()
    return list(response.json())


def script_file(path: Path, roles: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"roles": roles}))
    return path
