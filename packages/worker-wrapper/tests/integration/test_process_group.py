"""The process-group helper with real processes: a merged, bounded output, and an end that a
process which left the group cannot put off."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from shared.testing.waiting import eventually
from worker_wrapper.adapters.process_group import AgentProcess
from wrapper_testing import process_alive


async def test_a_merged_run_keeps_only_the_tail_and_ends_when_the_command_exits(
    tmp_path: Path,
) -> None:
    escaped, fifo = tmp_path / "escaped", tmp_path / "fifo"
    # A megabyte of output, a last line on stderr, and a process that leaves the group (it
    # says so through the fifo once it has) with the pipe open: the run still ends, and keeps
    # only the last 4096 bytes.
    command = (
        "head -c 1000000 /dev/zero | tr '\\0' x; echo; echo done >&2; "
        f"mkfifo {fifo}; setsid sh -c 'echo $$ > {fifo}; exec sleep 1000' & "
        f"read pid < {fifo}; echo $pid > {escaped}"
    )
    process = AgentProcess(kill_grace_s=1, stop=asyncio.Event())
    try:
        result = await process.run_merged(
            ["/bin/sh", "-c", command],
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"]},
            timeout_s=60,
            keep_bytes=4096,
        )
        pid = int(await asyncio.to_thread(escaped.read_text))
        assert process_alive(pid), "the process that left the group is gone: nothing was tested"
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(await asyncio.to_thread(escaped.read_text)), signal.SIGKILL)

    assert (result.exit_code, result.timed_out, result.stopped) == (0, False, False)
    assert len(result.stdout) == 4096
    assert result.stdout.endswith("xxx\ndone\n")


async def test_a_merged_run_stopped_by_the_worker_kills_its_group(tmp_path: Path) -> None:
    stop = asyncio.Event()
    started = tmp_path / "started"
    process = AgentProcess(kill_grace_s=1, stop=stop)
    run = asyncio.ensure_future(
        process.run_merged(
            [
                "/bin/sh",
                "-c",
                f"sleep 1000 & echo $! > {started}.new; mv {started}.new {started}; wait",
            ],
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"]},
            timeout_s=600,
            keep_bytes=4096,
        )
    )

    async def running() -> bool:
        assert not run.done(), run.result()
        return await asyncio.to_thread(started.exists)

    await eventually(running, within=30)
    stop.set()
    result = await asyncio.wait_for(run, 30)
    assert (result.stopped, result.timed_out) == (True, False)
    assert not process_alive(int(await asyncio.to_thread(started.read_text)))
