"""The scaffold's one commit, and how a repository says whom it was scaffolded for.

The commit carries trailers naming the project and the request: a redelivered request, or one
racing a copy of itself, finds its own scaffold already pushed and succeeds without pushing a
second commit; a repository holding anything else is refused."""

from __future__ import annotations

PROJECT_TRAILER = "Project-Id"
REQUEST_TRAILER = "Scaffold-Request"


def commit_message(project_name: str, project_id: str, request_id: str) -> str:
    return (
        f"Scaffold {project_name} from the service template\n\n"
        f"{PROJECT_TRAILER}: {project_id}\n{REQUEST_TRAILER}: {request_id}\n"
    )


def scaffolded_project(message: str) -> str | None:
    """The project a scaffold commit was made for, or None when the message is not one."""
    for line in reversed(message.strip().splitlines()):
        name, separator, value = line.partition(": ")
        if separator and name == PROJECT_TRAILER:
            return value.strip() or None
    return None


class Occupied(ValueError):
    """The repository holds something that is not this project's scaffold."""


def check_existing(head_message: str | None, project_id: str, repository: str) -> bool:
    """Whether the repository already holds this project's scaffold (True) or is empty (False);
    raises Occupied when it holds anything else."""
    if head_message is None:
        return False
    if scaffolded_project(head_message) == project_id:
        return True
    raise Occupied(
        f"the repository {repository} already exists and holds something else "
        "than this project's scaffold; nothing was changed"
    )
