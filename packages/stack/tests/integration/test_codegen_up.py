"""`codegen up` as a person runs it: one stack per data directory, reused after a restart
without a second user, key or server; `codegen status` shows it; `codegen down` stops it, also
after the `codegen up` itself was killed, and nothing of it is left running."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from codegen_stack.services import SERVICES
from codegen_stack.stack import leftovers
from shared.testing.waiting import eventually
from stack_testing import CODEGEN, codegen_up, up_env

SCHEDULER_JOBS = {
    "streams",
    "server_health",
    "provisioning",
    "server_sync",
    "repository_sync",
    "stale_work",
}


def codegen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CODEGEN, *args], env=up_env(), capture_output=True, text=True, timeout=300, check=False
    )


async def test_a_second_up_on_the_same_data_is_refused_and_a_restart_reuses_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with codegen_up(data) as stack:
        second = await asyncio.to_thread(codegen, "up", "--data-dir", str(data))
        status = json.loads((await asyncio.to_thread(
            codegen, "status", "--json", "--data-dir", str(data))).stdout)  # fmt: skip
        first_key = stack.api_key
        answer = await _chat(data, "/projects", until="no projects yet")
        jobs = await eventually(lambda: _jobs_run_once(data), 60)
    async with codegen_up(data) as again:
        async with again.api() as api:
            users = (await api.get("/api/users")).json()
            servers = (await api.get("/api/servers")).json()
        key = again.api_key

    assert second.returncode == 1
    assert "already runs" in second.stdout
    assert status["running"] is True
    assert set(status["programs"]) == {"postgres", "redis", *SERVICES}
    assert all(p["alive"] for p in status["programs"].values())
    assert (status["workers"], status["dead_letters"]) == ([], {})
    assert [u["username"] for u in users] == ["local"]
    assert [s["name"] for s in servers] == ["local"]
    assert key == first_key
    assert "You have no projects yet" in answer
    assert set(jobs) == SCHEDULER_JOBS
    assert all(job["next_run"] for job in jobs.values()), jobs
    assert all(job["outcome"] == "succeeded" for job in jobs.values()), jobs


async def _jobs_run_once(data: Path) -> dict[str, Any] | None:
    """The scheduler's jobs as `codegen status` shows them, once each has run."""
    answer = await asyncio.to_thread(codegen, "status", "--json", "--data-dir", str(data))
    jobs: dict[str, Any] = json.loads(answer.stdout).get("jobs") or {}
    if set(jobs) == SCHEDULER_JOBS and all(job["last_run"] for job in jobs.values()):
        return jobs
    return None


async def _chat(data: Path, line: str, until: str) -> str:
    """`codegen chat` typed into: the line sent, its output read until `until` shows, then
    Ctrl-D; it must end by itself."""
    chat = await asyncio.create_subprocess_exec(
        CODEGEN, "chat", "--data-dir", str(data), env=up_env(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert chat.stdin is not None
    assert chat.stdout is not None
    chat.stdin.write(f"{line}\n".encode())
    await chat.stdin.drain()
    said = ""
    try:
        async with asyncio.timeout(60):
            while until not in said:
                said += (await chat.stdout.readline()).decode()
    finally:
        chat.stdin.close()
        code = await asyncio.wait_for(chat.wait(), 30)
    assert code == 0
    return said


async def test_down_stops_the_stack_and_cleans_up_after_a_killed_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with codegen_up(data) as stack:
        down = await asyncio.to_thread(codegen, "down", "--data-dir", str(data))
        code = await asyncio.to_thread(stack.process.wait, 120)
        assert (code, down.returncode) == (0, 0)
        assert leftovers(stack.layout) == []

    async with codegen_up(data) as stack:
        stack.killed = True  # the supervisor dies without stopping anything
        stack.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(stack.process.wait, 30)
        down = await asyncio.to_thread(codegen, "down", "--data-dir", str(data))

        assert down.returncode == 0
        assert leftovers(stack.layout) == []


async def test_a_service_that_dies_is_started_again(tmp_path: Path) -> None:
    async with codegen_up(tmp_path / "data") as stack:
        pid = stack.pid_of("scaffolder")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)

        async def restarted() -> bool:
            now = stack.pid_of("scaffolder")
            return stack.starts_of("scaffolder") == 2 and now is not None and now != pid

        await eventually(restarted, within=60, interval=0.1)
