"""What the scaffolder's handlers use, as Protocols; `bootstrap.py` picks the adapters."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel
from shared.contracts import ProjectRead, ProjectStatus, ScaffolderResult


class ForgeUnavailable(RuntimeError):
    """The forge did not answer, or answered with a server error: worth trying again."""


class ForgeRefused(RuntimeError):
    """The forge refused the request (bad name, no permission): trying again will not help."""


@dataclass(frozen=True)
class Repository:
    name: str
    # Where workers and infra-service fetch it from; never carries credentials.
    clone_url: str
    # False when the repository was there already (a redelivery, or someone else's).
    created: bool


class Forge(Protocol):
    """Where projects' repositories live: bare repositories on disk, or GitHub."""

    async def ensure_repository(self, name: str, *, description: str) -> Repository:
        """The repository `name`, created empty if it does not exist. Raises ForgeUnavailable
        or ForgeRefused."""
        ...

    async def git_environment(self) -> dict[str, str]:
        """Variables that give git its credentials for this forge's URLs, held in memory only
        (e.g. `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0`/`GIT_CONFIG_VALUE_0` carrying an
        `http.extraHeader`); empty when none are needed. Never a URL with a token, never argv,
        never a file."""
        ...


class Publisher(Protocol):
    async def publish(self, stream: str, message: BaseModel) -> object: ...


class Renderer(Protocol):
    async def render(self, destination: Path, answers: dict[str, object]) -> list[str]:
        """Render the service template into `destination` (which must not exist); the files
        written, relative to it. Raises RenderFailed."""
        ...


class RenderFailed(RuntimeError):
    """The template could not be rendered with these answers."""


class ProjectsRefused(RuntimeError):
    """The API refused a request about the project (a 4xx): asking again will not help."""


class Projects(Protocol):
    """The API's projects."""

    async def get(self, project_id: str) -> ProjectRead | None:
        """The project, or None when the API has no such project."""
        ...

    async def update(
        self,
        project_id: str,
        *,
        status: ProjectStatus | None = None,
        repository_url: str | None = None,
    ) -> None:
        """Raises ProjectsRefused when the API refuses the change (e.g. a status it forbids)."""
        ...


@dataclass(frozen=True)
class Author:
    name: str
    email: str


class GitFailed(RuntimeError):
    """A git command failed; its message names the command and carries git's last lines."""


class Git(Protocol):
    """git in a scratch work tree; `env` carries the forge's credentials."""

    async def clone(self, url: str, destination: Path, env: dict[str, str]) -> None: ...

    async def head_message(self, work_tree: Path, branch: str) -> str | None:
        """The message of the branch's last commit; None when the branch has no commit."""
        ...

    async def fetch_head_message(
        self, work_tree: Path, url: str, branch: str, env: dict[str, str]
    ) -> str | None:
        """As `head_message`, for the remote's branch as it is now."""
        ...

    async def commit_all(self, work_tree: Path, branch: str, message: str, author: Author) -> str:
        """Commit every file of the work tree on `branch`; the new commit's sha."""
        ...

    async def push(self, work_tree: Path, url: str, branch: str, env: dict[str, str]) -> None:
        """Push `branch`; raises GitFailed (e.g. when someone pushed first)."""
        ...

    async def head_sha(self, work_tree: Path, branch: str) -> str: ...

    async def count_files(self, work_tree: Path, branch: str) -> int: ...


class Results(Protocol):
    """Each request's result, kept so a redelivery is answered again without redoing it."""

    async def get(self, request_id: str) -> ScaffolderResult | None: ...

    async def put(self, result: ScaffolderResult) -> None: ...


class Scratch(Protocol):
    """Temporary directories, removed whatever happens."""

    def directory(self) -> AbstractAsyncContextManager[Path]: ...
