"""Deploy intent and the Ansible jobs that carry it out."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contracts.base import (
    CommitSha,
    Identifier,
    Message,
    Port,
    RepositoryReference,
    SecretReference,
    Slug,
)
from shared.contracts.common import OutcomeStatus


class DeployMessage(Message):
    """Asks the devops flow to deploy a project's latest commit (from the orchestrator CLI)."""

    task_id: Identifier = Field(description="The deploy task to carry out.")
    project_id: Identifier = Field(description="The project to deploy.")
    user_id: Identifier = Field(description="The user on whose behalf the deploy runs.")
    callback_stream: str | None = Field(
        default=None, description="Stream that receives the DeployResult and progress."
    )
    commit_sha: CommitSha | None = Field(
        default=None,
        description="The commit to ship; by default the project's last tested commit "
        "(`ProjectRead.commit_sha`).",
    )


class DeployResult(Message):
    """The outcome of a deploy task, sent to the callback stream."""

    kind: Literal["deploy_result"] = Field(
        default="deploy_result", description="Discriminator on `task_progress:{task_id}`."
    )

    task_id: Identifier = Field(description="The deploy task this result closes.")
    status: OutcomeStatus = Field(description="How the deploy ended.")
    error: str | None = Field(default=None, description="Why the deploy did not succeed.")
    deployed_url: str | None = Field(default=None, description="The live URL of the project.")
    server_ip: str | None = Field(default=None, description="Address of the server it runs on.")
    port: Port | None = Field(default=None, description="Port the project listens on.")


class AnsibleDeployMessage(Message):
    """Asks infra-service to deploy one commit of a project to one server.

    Secrets travel as references that only infra-service resolves, never as values.
    """

    task_id: Identifier = Field(description="The deploy task this job belongs to.")
    project_id: Identifier = Field(description="The project being deployed.")
    project_name: Slug = Field(
        description="The project's name (also its service name on the host)."
    )
    repo_full_name: RepositoryReference = Field(
        description="Repository to fetch: `owner/name` on the forge, an http(s)/ssh/git/file URL "
        "or an absolute path (the `local` forge)."
    )
    commit_sha: CommitSha = Field(description="The exact commit to deploy (hexadecimal).")
    server: Slug = Field(description="The server to deploy to: its name or its id.")
    port: Port = Field(description="The port allocated to the project on that server.")
    modules: list[Slug] = Field(
        default_factory=list, max_length=16, description="The project's modules."
    )
    github_token_ref: SecretReference | None = Field(
        default=None,
        description="Reference to the token that can read the repository (`env:NAME` or "
        "`file:path`).",
    )
    secrets_ref: SecretReference | None = Field(
        default=None, description="Reference to the project's runtime secrets."
    )


class AnsibleDeployResult(Message):
    """The outcome of one Ansible deploy job (its request_id repeats the request's)."""

    task_id: Identifier = Field(description="The deploy task, repeated from the request.")
    project_id: Identifier = Field(description="The project that was deployed.")
    status: OutcomeStatus = Field(description="How the job ended.")
    error: str | None = Field(default=None, description="Why the job did not succeed.")
    deployed_url: str | None = Field(default=None, description="The URL the project answers on.")
    health_url: str | None = Field(
        default=None,
        description="The entry point's health URL (`.project.yml`), for the caller's smoke check.",
    )
    server_ip: str | None = Field(default=None, description="Address of the target server.")
    port: Port | None = Field(default=None, description="Port the project listens on.")
    stdout_tail: str | None = Field(default=None, description="Last lines of the playbook output.")
    stderr_tail: str | None = Field(default=None, description="Last lines of the playbook errors.")
    exit_code: int | None = Field(default=None, description="Exit code of the playbook run.")
