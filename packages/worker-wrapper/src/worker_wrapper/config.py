"""The wrapper's settings, from the environment worker-manager (or a container) gives it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from shared.contracts import AgentType, Identifier, WorkerType
from shared.settings import ApiClientSettings, RedisSettings, ServiceSettings

# The exit code of a worker that was stopped (SIGTERM's, as a shell reports it).
EXIT_STOPPED = 143
# After the agent's kill grace, the time a stopped worker has to publish what it was doing.
STOP_PUBLISH_S = 20


class WrapperSettings(ServiceSettings, RedisSettings, ApiClientSettings):
    """API_URL and API_KEY (the worker's user-scoped key) are for the CLI the agent runs."""

    worker_id: str = Field(min_length=1, description="This worker's id.")
    worker_type: WorkerType = Field(description="po (a chat loop) or developer (one task).")
    agent_type: AgentType = Field(default=AgentType.SCRIPTED, description="The agent to run.")
    session_id: Identifier | None = Field(
        default=None,
        description="The agent session a PO worker continues when it has none of its own yet.",
    )
    user_id: str | None = Field(default=None, description="The user this worker acts for.")
    allowed_commands: str = Field(default="", description="ALLOWED_COMMANDS for the CLI.")
    agent_redis_url: SecretStr | None = Field(
        default=None,
        description="The agent's Redis URL (its own ACL user, for the CLI), given to it as "
        "REDIS_URL; REDIS_URL itself is the wrapper's and never reaches the agent.",
    )
    workspace_dir: Path = Field(default=Path("/workspace"), description="Where work happens.")
    instructions: str = Field(default="", description="Role instructions (CLAUDE.md / AGENTS.md).")
    agent_timeout_s: float = Field(default=1800, gt=0, description="Agent time limit per turn.")
    kill_grace_s: float = Field(default=5, ge=0, description="SIGTERM → SIGKILL grace period.")
    heartbeat_ttl_s: int = Field(default=30, ge=3, description="Heartbeat key lifetime.")
    agent_extra_env: str = Field(
        default="",
        description="Comma list of further variables the agent may see (worker-manager adds "
        "the names of the worker's secrets); never GIT_TOKEN.",
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
        default=SecretStr(""),
        description="The token the wrapper's git pushes with (a credential helper answers "
        "it for the cloned remote's host only); never the agent's.",
    )

    @property
    def service_name(self) -> str:
        return f"worker-wrapper:{self.worker_id}"

    @property
    def claim_idle_ms(self) -> int:
        """An input pending twice a turn's time limit is taken over: its worker is gone."""
        return int(self.agent_timeout_s * 2000)

    @property
    def heartbeat_interval_s(self) -> float:
        return self.heartbeat_ttl_s / 3

    @property
    def stop_grace_s(self) -> float:
        """How long a stopped worker may take: its agent's kill grace, then its last output."""
        return self.kill_grace_s + STOP_PUBLISH_S

    @property
    def extra_env_names(self) -> list[str]:
        return [name.strip() for name in self.agent_extra_env.split(",") if name.strip()]

    @property
    def agent_home(self) -> Path:
        return self.workspace_dir / "home"

    @property
    def repo_dir(self) -> Path:
        """Where a developer worker clones the project."""
        return self.workspace_dir / "repo"

    @property
    def po_dir(self) -> Path:
        """Where a PO worker's agent works."""
        return self.workspace_dir / "po"

    agent_user: str | None = Field(
        default=None,
        description="The user the agent's processes run as; the wrapper must then run as root.",
    )
    agent_sandbox: Literal["bwrap"] | None = Field(
        default=None,
        description="bwrap: the agent's processes in bubblewrap (own PID namespace and /proc), "
        "when it is on PATH.",
    )
