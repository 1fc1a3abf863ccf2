"""Claude Code, headless: `claude -p … --output-format json`."""

from __future__ import annotations

import glob
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.contracts import AgentUsage

from worker_wrapper.adapters.runners.base import (
    BASE_ENV,
    CLI_ENV,
    Invocation,
    allowed_env,
    any_file,
)
from worker_wrapper.domain.turns import AgentTurn

ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
)


class ClaudeRunner:
    instructions_file = "CLAUDE.md"

    def __init__(self, binary: str, *, allowed_tools: str, model: str | None = None) -> None:
        self._binary = binary
        self._allowed_tools = allowed_tools
        self._model = model

    def invocation(
        self, prompt: str, *, session_id: str | None, home: Path, env: Mapping[str, str]
    ) -> Invocation:
        argv = [
            self._binary,
            "-p",
            prompt,
            "--output-format",
            "json",
            "--allowedTools",
            self._allowed_tools,
            "--permission-mode",
            "bypassPermissions",
        ]
        if self._model:
            argv += ["--model", self._model]
        if session_id:
            argv += ["--resume", session_id]
        agent_env = allowed_env(env, *BASE_ENV, *CLI_ENV, *ENV)
        agent_env.update(
            HOME=str(home),
            CLAUDE_CONFIG_DIR=str(home / ".claude"),
            # The worker is the sandbox: bypassPermissions is refused as root without this.
            IS_SANDBOX="1",
            DISABLE_AUTOUPDATER="1",
            DISABLE_TELEMETRY="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        )
        return Invocation(argv, agent_env)

    def has_session(self, session_id: str, *, home: Path) -> bool:
        # A conversation is kept per working directory: projects/<cwd, dashed>/<session>.jsonl.
        return any_file(home / ".claude" / "projects", f"*/{glob.escape(session_id)}.jsonl")

    def parse(self, stdout: str) -> AgentTurn:
        """The last JSON object claude printed (its result message)."""
        result = _last_json(stdout)
        usage = result.get("usage") or {}
        return AgentTurn(
            text=str(result.get("result", "")),
            session_id=result.get("session_id"),
            usage=AgentUsage(
                input_tokens=usage.get("input_tokens"),
                output_tokens=usage.get("output_tokens"),
                cache_read_tokens=usage.get("cache_read_input_tokens"),
                cost_usd=result.get("total_cost_usd"),
            ),
            is_error=bool(result.get("is_error")),
        )


def _last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    value = json.loads(stdout)  # raises ValueError: no JSON at all
    if not isinstance(value, dict):
        raise ValueError("the agent's output is not a JSON object")
    return value
