"""What infra-service takes from a project's `.project.yml`. The format itself is the shared
contract `shared.contracts.project_file`; this module holds only the deploy's view of it."""

from __future__ import annotations

from typing import Any

from shared.contracts import (
    PROJECT_FILE,
    ProjectFile,
    ProjectFileError,
    ProjectService,
    parse_project_file,
)

__all__ = ["DEPLOYED_KEYS", "deployed", "read_project_file"]

# The keys of a service the deploy playbook reads: `test` is the tester's, never run on a server.
DEPLOYED_KEYS = frozenset({"run", "health", "build", "directory"})


def read_project_file(text: str | None) -> ProjectFile:
    """The project file found at a commit (`None`: the commit has none).

    Raises `ProjectFileError` naming what is missing or each field at fault.
    """
    if text is None:
        raise ProjectFileError(f"the repository has no {PROJECT_FILE} at this commit")
    return parse_project_file(text)


def deployed(service: ProjectService) -> dict[str, Any]:
    """What the deploy playbook is given of one service (its name and port are added to it)."""
    return service.model_dump(include=set(DEPLOYED_KEYS))
