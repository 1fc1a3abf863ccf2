"""The wrapper's settings, from the environment worker-manager (or a container) gives it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from shared.contracts import AgentType, WorkerType
from shared.settings import ServiceSettings


class WrapperSettings(ServiceSettings):
    worker_id: str = Field(min_length=1, description="This worker's id.")
    worker_type: WorkerType = Field(description="po (a chat loop) or developer (one task).")
    agent_type: AgentType = Field(default=AgentType.SCRIPTED, description="The agent to run.")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis.")
    session_id: str | None = Field(default=None, description="The chat session (PO workers).")
    user_id: str | None = Field(default=None, description="The user this worker acts for.")
    api_url: str = Field(default="http://127.0.0.1:8000", description="The API, for the CLI.")
    api_key: SecretStr = Field(default=SecretStr(""), description="The worker's user-scoped key.")
    allowed_commands: str = Field(default="", description="ALLOWED_COMMANDS for the CLI.")
    workspace_dir: Path = Field(default=Path("/workspace"), description="Where work happens.")
    instructions: str = Field(default="", description="Role instructions (CLAUDE.md / AGENTS.md).")
    agent_timeout_s: float = Field(default=1800, gt=0, description="Agent time limit per turn.")
    kill_grace_s: float = Field(default=5, ge=0, description="SIGTERM → SIGKILL grace period.")
    heartbeat_ttl_s: int = Field(default=30, ge=3, description="Heartbeat key lifetime.")
    agent_extra_env: str = Field(
        default="", description="Comma list of further variables the agent may see."
    )
    claude_bin: str = Field(default="claude", description="The Claude Code executable.")
    claude_model: str | None = Field(default=None, description="--model for claude.")
    claude_allowed_tools: str = Field(
        default="Bash,Read,Write,Edit,MultiEdit,Glob,Grep,LS", description="--allowedTools."
    )
    codex_bin: str = Field(default="codex", description="The Codex executable.")
    codex_config: str | None = Field(
        default=None, description="Codex's config.toml (model provider), written to CODEX_HOME."
    )
    droid_bin: str = Field(default="droid", description="Factory's droid executable.")
    scripted_agent_script: Path | None = Field(
        default=None, description="The scripted agent's script (JSON)."
    )
    git_author_name: str = Field(default="codegen-worker", description="Commit author name.")
    git_author_email: str = Field(default="worker@codegen.local", description="Commit email.")
    git_token: SecretStr = Field(
        default=SecretStr(""), description="Token for HTTPS git remotes (sent as a header)."
    )
