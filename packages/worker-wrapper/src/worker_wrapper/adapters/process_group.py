"""Running an agent as a child process in its own process group, with a time limit.

On timeout or stop the whole group is killed (SIGTERM, then SIGKILL after a grace period), so
tools the agent started (shells, servers, test runners) die with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

TAIL_CHARS = 4000


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    stopped: bool = False

    @property
    def stderr_tail(self) -> str:
        return self.stderr[-TAIL_CHARS:]


class AgentProcess:
    def __init__(self, *, kill_grace_s: float, stop: asyncio.Event) -> None:
        self._kill_grace_s = kill_grace_s
        self._stop = stop

    async def run(
        self,
        argv: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        timeout_s: float,
        stdin: bytes | None = None,
    ) -> ProcessResult:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        talk = asyncio.ensure_future(process.communicate(stdin))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait(
                {talk, stop}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
        if talk in done:
            out, err = talk.result()
            _kill_group(process.pid, signal.SIGKILL)  # leftovers the agent forgot
            return ProcessResult(
                process.returncode, out.decode(errors="replace"), err.decode(errors="replace")
            )
        stopped = self._stop.is_set()
        await self._terminate(process)
        out, err = await talk
        return ProcessResult(
            process.returncode,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            timed_out=not stopped,
            stopped=stopped,
        )

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        _kill_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), self._kill_grace_s)
        _kill_group(process.pid, signal.SIGKILL)
        await process.wait()


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
