"""Scaffolding: create a project's repository from the service template."""

from __future__ import annotations

from pydantic import Field

from shared.contracts.base import CommitSha, Identifier, Message, Slug
from shared.contracts.common import OutcomeStatus


class ScaffolderMessage(Message):
    """Asks the scaffolder to create and fill a project's repository."""

    project_id: Identifier = Field(description="The project to scaffold.")
    project_name: Slug = Field(description="The project's name, used as the repository name.")
    modules: list[Slug] = Field(
        min_length=1, max_length=16, description="Template modules to render."
    )
    task_id: Identifier | None = Field(
        default=None, description="The task this is part of: progress goes to its stream."
    )
    description: str = Field(
        default="", max_length=2000, description="What the project is, for its README."
    )


class ScaffolderResult(Message):
    """The outcome of a scaffolding request (its request_id repeats the request's)."""

    status: OutcomeStatus = Field(description="How scaffolding ended.")
    error: str | None = Field(default=None, description="Why scaffolding did not succeed.")
    project_id: Identifier = Field(description="The project that was scaffolded.")
    repo_url: str | None = Field(default=None, description="Where the repository lives.")
    files_generated: int = Field(default=0, ge=0, description="How many files the template wrote.")
    task_id: Identifier | None = Field(default=None, description="The request's task, repeated.")
    commit_sha: CommitSha | None = Field(
        default=None, description="The scaffold's commit on the default branch."
    )
