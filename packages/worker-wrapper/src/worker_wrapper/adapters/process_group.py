"""Running an agent (or a project's test command) as a child process in its own process group,
with a time limit, isolated as the settings ask (isolation.py).

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
from typing import Any

from worker_wrapper.adapters.isolation import Isolation

TAIL_CHARS = 4000
# After a merged-output process's group is dead, how long its pipe may stay open (held by a
# process that left the group) before the wrapper stops reading it.
DRAIN_S = 2.0
READ_CHUNK = 64 * 1024


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
    def __init__(
        self, *, kill_grace_s: float, stop: asyncio.Event, isolation: Isolation | None = None
    ) -> None:
        self._kill_grace_s = kill_grace_s
        self._stop = stop
        self.isolation = isolation or Isolation()

    @property
    def stopping(self) -> asyncio.Event:
        """Set when the worker is stopping: whatever runs is stopped, nothing new starts."""
        return self._stop

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
            *self.isolation.command(argv, env),
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            **self.isolation.popen_args(),
        )
        talk = asyncio.ensure_future(process.communicate(stdin))
        timed_out, stopped = await self._supervise(process, talk, timeout_s)
        out, err = await talk
        return ProcessResult(
            process.returncode,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            timed_out=timed_out,
            stopped=stopped,
        )

    async def run_merged(
        self, argv: list[str], *, cwd: Path, env: dict[str, str], timeout_s: float, keep_bytes: int
    ) -> ProcessResult:
        """`run`, stdin closed, stdout and stderr interleaved in one pipe of which only the last
        `keep_bytes` are kept (as `stdout`): however much a command prints, the wrapper's memory
        does not grow. The pipe is the wrapper's own, so the process's end is its exit, not its
        pipe's closing (which a process that left the group could put off forever)."""
        read_end, write_end = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *self.isolation.command(argv, env),
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_end,
                stderr=write_end,
                start_new_session=True,
                **self.isolation.popen_args(),
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        tail = OutputTail(keep_bytes)
        reading = asyncio.ensure_future(_read_into(tail, read_end))
        timed_out, stopped = await self._supervise(
            process, asyncio.ensure_future(process.wait()), timeout_s
        )
        # The group is dead: what it wrote is in the pipe, whose end comes at once unless a
        # process that left the group holds it.
        await asyncio.wait({reading}, timeout=DRAIN_S)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        return ProcessResult(
            process.returncode, tail.text(), "", timed_out=timed_out, stopped=stopped
        )

    async def _supervise(
        self, process: asyncio.subprocess.Process, work: asyncio.Future[Any], timeout_s: float
    ) -> tuple[bool, bool]:
        """Wait for `work` (the process's end) within `timeout_s` or until the worker stops,
        and kill the process's group either way; (timed out, stopped)."""
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait(
                {work, stop}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
        if work in done:
            _kill_group(process.pid, signal.SIGKILL)  # leftovers the process forgot
            return False, False
        stopped = self._stop.is_set()
        await self._terminate(process)
        return not stopped, stopped

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        _kill_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), self._kill_grace_s)
        _kill_group(process.pid, signal.SIGKILL)
        await process.wait()


class OutputTail:
    """The last `keep_bytes` bytes of a stream of output, however long the stream."""

    def __init__(self, keep_bytes: int) -> None:
        self._keep = keep_bytes
        self._buffer = bytearray()

    def add(self, chunk: bytes) -> None:
        self._buffer += chunk[-self._keep :]
        del self._buffer[: max(0, len(self._buffer) - self._keep)]

    def __len__(self) -> int:
        return len(self._buffer)

    def text(self) -> str:
        return self._buffer.decode(errors="replace")


async def _read_into(tail: OutputTail, fd: int) -> None:
    """Read the pipe `fd` (then closed) to its end into `tail`."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_CHUNK, loop=loop)
    pipe = os.fdopen(fd, "rb", 0)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe
        )
    except BaseException:
        pipe.close()
        raise
    try:
        while chunk := await reader.read(READ_CHUNK):
            tail.add(chunk)
    finally:
        transport.close()


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
