"""Projects (REST) and their status machine."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.contracts.base import CommitSha, Identifier, RestModel, Slug


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    SCAFFOLDING = "scaffolding"
    SCAFFOLDED = "scaffolded"
    DEVELOPING = "developing"
    TESTING = "testing"
    READY = "ready"
    DEPLOYING = "deploying"
    ACTIVE = "active"
    FAILED = "failed"
    ARCHIVED = "archived"


_S = ProjectStatus
# The main line, plus the loops a living project takes (new work on an active project, a failed
# test run going back to development, a redeploy), failure from any working state, and archive.
# A change that fails or is cancelled returns the project to the state it rested in before
# (scaffolded, ready, active or failed): a failed feature does not make a live app `failed`.
PROJECT_TRANSITIONS: dict[ProjectStatus, frozenset[ProjectStatus]] = {
    _S.DRAFT: frozenset({_S.SCAFFOLDING, _S.FAILED, _S.ARCHIVED}),
    _S.SCAFFOLDING: frozenset({_S.SCAFFOLDED, _S.FAILED, _S.ARCHIVED}),
    _S.SCAFFOLDED: frozenset({_S.DEVELOPING, _S.FAILED, _S.ARCHIVED}),
    _S.DEVELOPING: frozenset(
        {_S.TESTING, _S.SCAFFOLDED, _S.READY, _S.ACTIVE, _S.FAILED, _S.ARCHIVED}
    ),
    _S.TESTING: frozenset(
        {_S.DEVELOPING, _S.SCAFFOLDED, _S.READY, _S.DEPLOYING, _S.ACTIVE, _S.FAILED, _S.ARCHIVED}
    ),
    # Engineering done and tested, nothing deployed it yet: a resting state.
    _S.READY: frozenset({_S.DEVELOPING, _S.DEPLOYING, _S.FAILED, _S.ARCHIVED}),
    _S.DEPLOYING: frozenset({_S.ACTIVE, _S.READY, _S.FAILED, _S.ARCHIVED}),
    _S.ACTIVE: frozenset({_S.DEVELOPING, _S.DEPLOYING, _S.FAILED, _S.ARCHIVED}),
    _S.FAILED: frozenset({_S.SCAFFOLDING, _S.DEVELOPING, _S.DEPLOYING, _S.ARCHIVED}),
    _S.ARCHIVED: frozenset(),
}

# Where a project waits between changes; a failed or cancelled change returns it there.
RESTING_PROJECT_STATUSES = frozenset({_S.SCAFFOLDED, _S.READY, _S.ACTIVE, _S.FAILED})

ModuleName = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_-]*$")
]


class ProjectCreate(RestModel):
    name: Slug = Field(description="Lower-case name; also the repository and service name.")
    description: str = Field(default="", max_length=10_000, description="What the project is.")
    modules: list[ModuleName] = Field(
        min_length=1, max_length=20, description="Template modules, e.g. `backend`."
    )
    owner_id: Identifier | None = Field(
        default=None, description="Owner; a user's own key may only name itself (the default)."
    )


class ProjectUpdate(RestModel):
    description: str | None = Field(default=None, max_length=10_000, description="Description.")
    status: ProjectStatus | None = Field(default=None, description="Next status (validated).")
    repository_url: str | None = Field(default=None, max_length=500, description="Repository.")
    modules: list[ModuleName] | None = Field(default=None, min_length=1, description="Modules.")
    commit_sha: CommitSha | None = Field(
        default=None, description="The last commit whose tests passed: what a deploy ships."
    )


class ProjectRead(RestModel):
    id: Identifier = Field(description="The project's id.")
    name: str = Field(description="Its name.")
    description: str = Field(description="What it is.")
    status: ProjectStatus = Field(description="Where it is in its life.")
    modules: list[str] = Field(description="Its template modules.")
    repository_url: str | None = Field(description="Where its code lives, once scaffolded.")
    commit_sha: str | None = Field(
        default=None,
        description="The last commit whose tests passed (set by engineering): what a deploy "
        "ships unless it names another.",
    )
    owner_id: Identifier = Field(description="The user who owns it.")
    created_at: datetime = Field(description="When it was created.")
    updated_at: datetime = Field(description="When it last changed.")
