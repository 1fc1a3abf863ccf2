"""OpenAI Codex, headless: `codex exec --json`, its events one JSON object per line."""

from __future__ import annotations

import glob
import json
from collections.abc import Mapping
from pathlib import Path

from shared.contracts import AgentUsage

from worker_wrapper.adapters.runners.base import (
    BASE_ENV,
    CLI_ENV,
    Invocation,
    allowed_env,
    any_file,
)
from worker_wrapper.domain.turns import AgentTurn

ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY")


class CodexRunner:
    instructions_file = "AGENTS.md"

    def __init__(
        self, binary: str, *, model: str | None = None, config_toml: str | None = None
    ) -> None:
        self._binary = binary
        self._model = model
        self._config_toml = config_toml

    def invocation(
        self, prompt: str, *, session_id: str | None, home: Path, env: Mapping[str, str]
    ) -> Invocation:
        # Flags first, then `resume <thread>`; stdin stays closed (codex reads it to EOF).
        argv = [
            self._binary,
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
        ]
        if self._model:
            argv += ["--model", self._model]
        if session_id:
            argv += ["resume", session_id]
        argv.append(prompt)
        agent_env = allowed_env(env, *BASE_ENV, *CLI_ENV, *ENV)
        agent_env.update(HOME=str(home), CODEX_HOME=str(home / ".codex"))
        files = {home / ".codex" / "config.toml": self._config_toml} if self._config_toml else {}
        return Invocation(argv, agent_env, extra_files=files)

    def has_session(self, session_id: str, *, home: Path) -> bool:
        # Threads are kept as sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl.
        return any_file(
            home / ".codex" / "sessions", f"**/rollout-*-{glob.escape(session_id)}.jsonl"
        )

    def parse(self, stdout: str) -> AgentTurn:
        text, session_id, usage, failed = "", None, AgentUsage(), False
        for line in stdout.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            kind = event.get("type")
            if kind == "thread.started":
                session_id = event.get("thread_id")
            elif kind == "item.completed" and event.get("item", {}).get("type") == "agent_message":
                text = str(event["item"].get("text", ""))
            elif kind == "turn.completed":
                tokens = event.get("usage") or {}
                usage = AgentUsage(
                    input_tokens=tokens.get("input_tokens"),
                    output_tokens=tokens.get("output_tokens"),
                    cache_read_tokens=tokens.get("cached_input_tokens"),
                )
            elif kind in ("turn.failed", "error"):
                failed = True
        if session_id is None and not text:
            raise ValueError("no codex events in the output")
        return AgentTurn(text=text, session_id=session_id, usage=usage, is_error=failed)
