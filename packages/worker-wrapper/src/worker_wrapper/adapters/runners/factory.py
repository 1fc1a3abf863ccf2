"""Factory's droid, headless: `droid exec -o json`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from worker_wrapper.adapters.runners.base import BASE_ENV, CLI_ENV, Invocation, allowed_env
from worker_wrapper.adapters.runners.claude import ClaudeRunner
from worker_wrapper.domain.turns import AgentTurn

ENV = ("FACTORY_API_KEY",)


class FactoryRunner:
    instructions_file = "AGENTS.md"

    def __init__(self, binary: str, *, model: str | None = None) -> None:
        self._binary = binary
        self._model = model

    def invocation(
        self, prompt: str, *, session_id: str | None, home: Path, env: Mapping[str, str]
    ) -> Invocation:
        # --auto high: the worker is the sandbox, so edits and commands need no approval.
        argv = [self._binary, "exec", "-o", "json", "--auto", "high"]
        if self._model:
            argv += ["--model", self._model]
        if session_id:
            argv += ["--session-id", session_id]
        argv.append(prompt)
        agent_env = allowed_env(env, *BASE_ENV, *CLI_ENV, *ENV)
        agent_env.update(HOME=str(home))
        return Invocation(argv, agent_env)

    def has_session(self, session_id: str, *, home: Path) -> bool:
        return True  # where droid keeps its sessions is not known here: let it try

    def parse(self, stdout: str) -> AgentTurn:
        # droid's JSON result has the same shape as Claude Code's (result, session_id, usage).
        return ClaudeRunner.parse(ClaudeRunner("droid", allowed_tools=""), stdout)
