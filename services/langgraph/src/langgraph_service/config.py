"""langgraph-service's settings."""

from __future__ import annotations

from pydantic import Field, SecretStr
from shared.contracts import AgentType
from shared.contracts.base import SecretReference
from shared.settings import ApiClientSettings, RedisSettings, ServiceSettings

DEVELOPER_INSTRUCTIONS = (
    "You are a developer working on one task of this project. Read the code and its "
    "`.project.yml`, implement the task, keep the project's own tests passing (add tests for "
    "what you build), commit your work on the current branch. Your commit is tested by running "
    "the test command of `.project.yml`: a task is done only when those tests pass."
)


class LanggraphSettings(ServiceSettings, RedisSettings, ApiClientSettings):
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://127.0.0.1:5432/codegen"),
        description="The Postgres the checkpoints live in (the API's, in a schema of its own).",
    )
    checkpoint_schema: str = Field(
        default="langgraph",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="The schema of the checkpoints and the flows table, created at start-up.",
    )
    max_attempts: int = Field(default=3, ge=1, le=20, description="Developer attempts per task.")
    developer_agent: AgentType = Field(default=AgentType.CLAUDE, description="The coding agent.")
    developer_instructions: str = Field(
        default=DEVELOPER_INSTRUCTIONS, description="The developer role's instructions."
    )
    tester_agent: AgentType = Field(
        default=AgentType.SCRIPTED,
        description="The agent type a tester worker is created with (tests run without one).",
    )
    develop_timeout_s: int = Field(default=1800, gt=0, description="An agent's time limit.")
    test_timeout_s: int = Field(default=900, gt=0, description="A test run's time limit.")
    worker_start_timeout_s: float = Field(
        default=300, gt=0, description="How long worker-manager may take to answer a create."
    )
    scaffold_timeout_s: float = Field(
        default=900, gt=0, description="How long a scaffold may take."
    )
    deploy_timeout_s: float = Field(default=2400, gt=0, description="How long a deploy may take.")
    result_margin_s: float = Field(
        default=300,
        ge=0,
        description="Added to a worker's own time limit before its silence counts as lost.",
    )
    deploy_server: str = Field(default="local", description="The server deploys go to (its name).")
    github_token_ref: SecretReference | None = Field(
        default=None, description="Reference to the token infra-service reads repositories with."
    )
    secrets_ref_pattern: str = Field(
        default="",
        description="Reference to a project's runtime secrets, `{project}` replaced by its name "
        "(e.g. `file:{project}.env`); empty: none.",
    )
    smoke_attempts: int = Field(default=10, ge=1, le=100, description="Tries of the live URL.")
    smoke_first_delay_s: float = Field(default=0.5, ge=0, description="First retry's delay.")
    intake_concurrency: int = Field(default=2, ge=1, le=64, description="Intents at once.")
    listener_concurrency: int = Field(
        default=4, ge=1, le=64, description="Results handled at once, per result stream."
    )
    sweep_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often deadlines, cancellations and stalled flows are checked.",
    )
    stalled_after_s: float = Field(
        default=10.0,
        gt=0,
        description="A flow running this long without its process holding it is continued.",
    )
    lock_timeout_s: float = Field(default=60, gt=0, description="Longest wait for a flow's lock.")
    claim_idle_s: float = Field(
        default=120, gt=0, description="An entry pending this long goes to another consumer."
    )
    shutdown_grace_s: float = Field(default=30, gt=0, description="Grace on SIGTERM.")
    consumer_name: str = Field(default="langgraph-1", description="This replica's name.")
    crash_at: str = Field(
        default="",
        pattern=r"^$|^(before_publish|after_publish|after_checkpoint):[1-9][0-9]{0,5}$",
        description="Tests only: `point:N` kills this process (SIGKILL) at the Nth such point.",
    )

    @property
    def postgres_conninfo(self) -> str:
        """The URL as libpq reads it (an SQLAlchemy-style `+driver` is dropped)."""
        url = self.database_url.get_secret_value()
        scheme, separator, rest = url.partition("://")
        return f"{scheme.split('+', 1)[0]}{separator}{rest}"
