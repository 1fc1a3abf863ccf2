"""A project's own commands (its tests), run by the wrapper: `/bin/sh -c`, a process group of
their own, an environment from an allowlist, only the tail of their output kept."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import structlog

from worker_wrapper.adapters.process_group import AgentProcess
from worker_wrapper.domain.tester import CommandRun, RunEnd, not_started

log = structlog.get_logger("worker_wrapper")

# What a test command may see of the wrapper's environment. Nothing else: not REDIS_URL, the
# API key, the git token or any other setting of the wrapper.
TEST_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR")
# Of a command's output, the wrapper keeps this much (well over what an output carries, so a
# secret cut at its start is never in what is published).
KEEP_BYTES = 64 * 1024


def command_environment(source: Mapping[str, str], *, home: Path) -> dict[str, str]:
    """The allowlisted variables of `source`, and HOME = the worker's home."""
    env = {name: source[name] for name in TEST_ENV if name in source}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = str(home)
    return env


class ProcessShell:
    """The `Shell` port."""

    def __init__(self, process: AgentProcess, *, env: Mapping[str, str], home: Path) -> None:
        self._process = process
        self._home = home
        self._env = command_environment(env, home=home)

    async def run(self, command: str, *, cwd: Path, timeout_s: float) -> CommandRun:
        self._process.isolation.hand_over(self._home)
        log.info("test command starting", cwd=str(cwd))
        try:
            result = await self._process.run_merged(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                env=self._env,
                timeout_s=timeout_s,
                keep_bytes=KEEP_BYTES,
            )
        except OSError as exc:
            return not_started(f"{type(exc).__name__}: {exc.strerror}")
        if result.stopped:
            end = RunEnd.STOPPED
        elif result.timed_out:
            end = RunEnd.TIMEOUT
        else:
            end = RunEnd.EXITED
        log.info("test command ended", end=str(end), exit_code=result.exit_code)
        return CommandRun(end, result.exit_code, result.stdout)
