"""Workers: their configuration, the commands that manage them, and what flows in and out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.base import (
    CommitSha,
    EnvName,
    GitBranch,
    Identifier,
    Message,
    Name,
    RepositoryReference,
    SecretReference,
)
from shared.contracts.common import OutcomeStatus


class WorkerType(StrEnum):
    PO = "po"
    DEVELOPER = "developer"


class AgentType(StrEnum):
    CLAUDE = "claude"
    CODEX = "codex"
    FACTORY = "factory"
    SCRIPTED = "scripted"


class Capability(StrEnum):
    GIT = "git"
    GITHUB_CLI = "github_cli"
    CURL = "curl"
    DOCKER = "docker"


class WorkerState(StrEnum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


class LifecycleEventKind(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


class WorkMode(StrEnum):
    """What a developer worker does with its input."""

    DEVELOP = "develop"
    """Run the agent on the task, commit and push."""
    TEST = "test"
    """Run the project's declared tests (`.project.yml`) at a commit; no agent."""


class VerdictStatus(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    IN_PROGRESS = "in_progress"


class WorkerConfig(BaseModel):
    """Everything needed to start a worker."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Name = Field(description="A readable name for the worker.")
    worker_type: WorkerType = Field(description="PO (long-lived chat) or developer (one task).")
    agent_type: AgentType = Field(description="Which headless agent the worker runs.")
    instructions: str = Field(default="", description="Becomes the agent's CLAUDE.md / AGENTS.md.")
    allowed_commands: str = Field(
        default="", description="The orchestrator CLI's ALLOWED_COMMANDS for this worker."
    )
    capabilities: list[Capability] = Field(
        default_factory=list, description="Tools the worker's image must carry."
    )
    env_vars: dict[EnvName, str] = Field(
        default_factory=dict,
        max_length=64,
        description="Extra non-secret environment for the worker.",
    )
    secrets: dict[EnvName, SecretReference] = Field(
        default_factory=dict,
        max_length=32,
        description="The agent's secrets (a model API key, ...): variable name → reference "
        "(`env:NAME`, `file:path`), resolved by worker-manager into this worker's environment "
        "only; never a value.",
    )


class CreateWorkerCommand(Message):
    """Asks worker-manager to create and start a worker."""

    command: Literal["create"] = Field(default="create", description="Discriminator.")
    config: WorkerConfig = Field(description="The worker to create.")
    context: dict[str, str] = Field(
        default_factory=dict,
        description="Who and what the worker is for: user_id, project_id, task_id, session_id.",
    )


class DeleteWorkerCommand(Message):
    """Asks worker-manager to stop and remove a worker."""

    command: Literal["delete"] = Field(default="delete", description="Discriminator.")
    worker_id: Identifier = Field(description="The worker to delete.")
    reply_to: WorkerType | None = Field(
        default=None,
        description="The type whose responses stream gets the answer; by default the worker's "
        "recorded type, else the type its id names.",
    )


class StatusWorkerCommand(Message):
    """Asks worker-manager for a worker's status."""

    command: Literal["status"] = Field(default="status", description="Discriminator.")
    worker_id: Identifier = Field(description="The worker to report on.")
    reply_to: WorkerType | None = Field(
        default=None,
        description="The type whose responses stream gets the answer; by default the worker's "
        "recorded type, else the type its id names.",
    )


WorkerCommand = Annotated[
    CreateWorkerCommand | DeleteWorkerCommand | StatusWorkerCommand,
    Field(discriminator="command"),
]


class WorkerStatus(BaseModel):
    """A worker's state as worker-manager keeps it in `worker:status:{id}`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    worker_id: Identifier = Field(description="The worker.")
    worker_type: WorkerType = Field(description="Its type.")
    state: WorkerState = Field(description="Its lifecycle state.")
    started_at: datetime | None = Field(default=None, description="When it started.")
    updated_at: datetime = Field(description="When the state last changed.")
    exit_code: int | None = Field(default=None, description="Exit code, once it ended.")
    error: str | None = Field(default=None, description="Why it failed, if it did.")
    current_task_id: str | None = Field(default=None, description="The task it is running.")
    current_request_id: str | None = Field(
        default=None, description="The input request it is handling."
    )


class WorkerActivity(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    DONE = "done"


class WorkerHeartbeat(BaseModel):
    """What a worker says of itself in `worker:heartbeat:{id}`, refreshed every third of the
    key's lifetime; worker-manager reads it to tell a busy worker from an idle one."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: WorkerActivity = Field(description="What the worker is doing.")
    task_id: str | None = Field(default=None, description="The task it runs or ran.")
    request_id: str | None = Field(default=None, description="The input it is handling.")
    status: str | None = Field(default=None, description="The outcome of its task, once done.")
    at: float = Field(description="When it was written (seconds since the epoch).")


class WorkerResponse(Message):
    """worker-manager's answer to a command (its request_id repeats the command's)."""

    command: Literal["create", "delete", "status"] = Field(description="The command answered.")
    success: bool = Field(description="Whether the command succeeded.")
    worker_id: Identifier | None = Field(default=None, description="The worker concerned.")
    status: WorkerStatus | None = Field(default=None, description="The worker's status.")
    error: str | None = Field(default=None, description="Why the command failed.")


class WorkerLifecycleEvent(Message):
    """A worker wrapper's lifecycle change, for worker-manager."""

    worker_id: Identifier = Field(description="The worker.")
    event: LifecycleEventKind = Field(description="What happened.")
    task_id: Identifier | None = Field(default=None, description="The task it concerns, if any.")
    result: dict[str, Any] | None = Field(default=None, description="A summary of the result.")
    error: str | None = Field(default=None, description="Why it failed or stopped.")
    exit_code: int | None = Field(default=None, description="The agent's or wrapper's exit code.")


class AgentVerdict(BaseModel):
    """What the agent says of its own work, in a `<result>{json}</result>` block."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: VerdictStatus = Field(description="The agent's verdict.")
    summary: str = Field(default="", description="What it did, in a few lines.")
    data: dict[str, Any] = Field(default_factory=dict, description="Anything else it reports.")


class AgentUsage(BaseModel):
    """Tokens and cost, as the agent reports them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    input_tokens: int | None = Field(default=None, ge=0, description="Prompt tokens.")
    output_tokens: int | None = Field(default=None, ge=0, description="Completion tokens.")
    cache_read_tokens: int | None = Field(default=None, ge=0, description="Cached prompt tokens.")
    cost_usd: float | None = Field(default=None, ge=0, description="Cost in US dollars.")


class POWorkerInput(Message):
    """A user's message for their PO worker."""

    user_id: Identifier = Field(description="The user who wrote it.")
    prompt: str = Field(min_length=1, description="What the user wrote.")


class POWorkerOutput(Message):
    """The PO's answer (its request_id repeats the input's)."""

    user_id: Identifier = Field(description="The user to answer.")
    text: str = Field(description="The answer.")
    is_final: bool = Field(default=True, description="False for interim messages.")
    session_id: str | None = Field(
        default=None,
        max_length=200,
        description="The agent's conversation after this turn: kept per user, so a replaced "
        "worker continues it.",
    )
    worker_died: bool = Field(
        default=False,
        description="True when worker-manager answers for a worker that died before answering: "
        "the message was not handled.",
    )


class DeveloperWorkerInput(Message):
    """One task for a developer worker, with what a fresh worker needs to find its work."""

    task_id: Identifier = Field(description="The task to implement.")
    project_id: Identifier = Field(description="The project it belongs to.")
    prompt: str = Field(min_length=1, description="The spec and instructions for the agent.")
    timeout: int = Field(default=1800, gt=0, le=86_400, description="Seconds the agent may run.")
    repo_url: RepositoryReference = Field(description="Repository to clone.")
    branch: GitBranch = Field(default="main", description="Branch to work on and push.")
    attempt: int = Field(default=1, ge=1, description="1 for the first try, then 2, 3, ...")
    previous_failure: str | None = Field(
        default=None, description="Why the previous attempt failed, as context for this one."
    )
    mode: WorkMode = Field(
        default=WorkMode.DEVELOP, description="Develop the task, or test a commit of it."
    )
    commit_sha: CommitSha | None = Field(
        default=None, description="The commit to test (required in `test` mode)."
    )

    @model_validator(mode="after")
    def _test_names_its_commit(self) -> DeveloperWorkerInput:
        if self.mode is WorkMode.TEST and self.commit_sha is None:
            raise ValueError("a test run names the commit it tests (commit_sha)")
        return self


class DeveloperWorkerOutput(Message):
    """A developer worker's result, or worker-manager's report of its death."""

    task_id: Identifier = Field(description="The task this result is for.")
    worker_id: Identifier | None = Field(default=None, description="The worker that ran it.")
    status: OutcomeStatus = Field(description="How the run ended.")
    error: str | None = Field(default=None, description="Why it did not succeed.")
    duration_ms: int | None = Field(default=None, ge=0, description="Wall time of the run.")
    commit_sha: str | None = Field(default=None, description="The pushed commit, read from git.")
    pr_url: str | None = Field(default=None, description="A pull request, if one was opened.")
    exit_code: int | None = Field(default=None, description="The agent's or worker's exit code.")
    verdict: AgentVerdict | None = Field(default=None, description="The agent's own verdict.")
    usage: AgentUsage | None = Field(default=None, description="Tokens and cost.")
    output_tail: str | None = Field(
        default=None,
        max_length=20_000,
        description="In `test` mode, the last lines of the tests' output (what failed).",
    )
    retryable: bool = Field(
        default=True,
        description="False when another attempt cannot succeed (the repository does not "
        "exist or cannot be read): the task fails at once.",
    )
