"""One turn of the agent: its instructions in place, its process run, its output read."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import structlog

from worker_wrapper.adapters.home_lock import HomeLock
from worker_wrapper.adapters.process_group import AgentProcess
from worker_wrapper.adapters.runners.base import Runner
from worker_wrapper.domain.turns import TurnResult, TurnStatus

log = structlog.get_logger("worker_wrapper")


class ProcessAgent:
    """The `Agent` port: the runner's command line, run as a process group of its own, one turn
    at a time in its home (which a user's PO workers share)."""

    def __init__(
        self, runner: Runner, process: AgentProcess, *, home: Path, env: Mapping[str, str]
    ) -> None:
        self.runner = runner
        self._process = process
        self._home = home
        self._env = dict(env)
        self._lock = HomeLock(home, stop=process.stopping)

    @property
    def instructions_file(self) -> str:
        return self.runner.instructions_file

    async def turn(
        self,
        prompt: str,
        *,
        cwd: Path,
        session_id: str | None,
        timeout_s: float,
        extra_env: Mapping[str, str] | None = None,
    ) -> TurnResult:
        async with self._lock.held() as held:
            if not held:
                return TurnResult(TurnStatus.STOPPED, None, None)
            return await self._turn(prompt, cwd, session_id, timeout_s, extra_env)

    async def has_session(self, session_id: str) -> bool:
        return await asyncio.to_thread(self.runner.has_session, session_id, home=self._home)

    async def _turn(
        self,
        prompt: str,
        cwd: Path,
        session_id: str | None,
        timeout_s: float,
        extra_env: Mapping[str, str] | None,
    ) -> TurnResult:
        isolation = self._process.isolation
        # Where the agent works and lives is its own (its user's, when it runs as another).
        isolation.hand_over(self._home)
        isolation.hand_over(cwd)
        invocation = self.runner.invocation(
            prompt, session_id=session_id, home=self._home, env=self._env
        )
        for path, content in invocation.extra_files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # a link the agent left there is replaced, not followed
            path.write_text(content)
            isolation.give(path, below=self._home)
        # Per-turn values (the request being answered, variables named in AGENT_EXTRA_ENV) are
        # chosen by the wrapper, so they join after the runner's allowlist.
        env = {**invocation.env, **(extra_env or {})}
        log.info("agent turn starting", argv0=invocation.argv[0], resume=bool(session_id))
        result = await self._process.run(
            invocation.argv, cwd=cwd, env=env, timeout_s=timeout_s, stdin=invocation.stdin
        )
        if result.stopped:
            return TurnResult(TurnStatus.STOPPED, None, result.exit_code, result.stderr_tail)
        if result.timed_out:
            return TurnResult(TurnStatus.TIMEOUT, None, result.exit_code, result.stderr_tail)
        try:
            turn = self.runner.parse(result.stdout)
        except ValueError:
            return TurnResult(
                TurnStatus.CRASHED,
                None,
                result.exit_code,
                result.stderr_tail or result.stdout[-2000:],
            )
        if result.exit_code != 0 and not turn.text:
            return TurnResult(TurnStatus.CRASHED, turn, result.exit_code, result.stderr_tail)
        return TurnResult(TurnStatus.OK, turn, result.exit_code, result.stderr_tail)
