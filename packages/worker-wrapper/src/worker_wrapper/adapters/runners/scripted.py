"""The scripted agent: offline and deterministic, for demos and tests. Not intelligent."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from worker_wrapper.adapters.runners.base import BASE_ENV, CLI_ENV, Invocation, allowed_env
from worker_wrapper.adapters.runners.claude import ClaudeRunner
from worker_wrapper.domain.turns import AgentTurn

# Where the scripted agent keeps a session (scripted_agent.py), under its --state-dir.
STATE_DIR = ".scripted-agent"


class ScriptedRunner:
    instructions_file = "AGENTS.md"

    def __init__(self, script: Path | None, *, role: str) -> None:
        """`role` is the worker's type (po, developer): a script with turns per role plays its
        turns."""
        self._script = script
        self._role = role

    def invocation(
        self, prompt: str, *, session_id: str | None, home: Path, env: Mapping[str, str]
    ) -> Invocation:
        argv = [sys.executable, "-m", "worker_wrapper.scripted_agent", "--state-dir", str(home)]
        argv += ["--role", self._role]
        if self._script is not None:
            argv += ["--script", str(self._script)]
        if session_id:
            argv += ["--resume", session_id]
        argv.append(prompt)
        agent_env = allowed_env(env, *BASE_ENV, *CLI_ENV)
        agent_env.update(HOME=str(home))
        return Invocation(argv, agent_env)

    def has_session(self, session_id: str, *, home: Path) -> bool:
        return (home / STATE_DIR / f"{session_id}.json").is_file()

    def parse(self, stdout: str) -> AgentTurn:
        # The scripted agent prints Claude Code's result shape.
        return ClaudeRunner.parse(ClaudeRunner("scripted", allowed_tools=""), stdout)
