"""Repository sync's rules: which projects are checked, what a check's answer leads to, and what
admins are told about a repository that vanished.

The job only ever opens or resolves incidents: a project whose repository is gone keeps its
status and its `repository_url`, so nothing changes under a person's feet, and the incident says
what to do."""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from shared.contracts import ProjectRead, ProjectStatus

TITLE_PREFIX = "Repository of project "
TITLE_SUFFIX = " is gone"
URL_CHARS = 300
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


class Action(StrEnum):
    OPEN = "open"  # tell admins: the repository vanished
    RESOLVE = "resolve"  # it is back
    NOTHING = "nothing"


def action(found: bool | None, *, flagged: bool) -> Action:
    """What a check's answer leads to, given whether an incident about it is open. None (the
    forge cannot tell) changes nothing: a forge that is down is not a vanished repository."""
    if found is False and not flagged:
        return Action.OPEN
    if found is True and flagged:
        return Action.RESOLVE
    return Action.NOTHING


def unchecked_because(project: ProjectRead) -> str | None:
    """Why the job does not ask the forge about this project, or None when it does. An archived
    project's repository may be deleted on purpose; a project without one has nothing to ask."""
    if not project.repository_url:
        return f"project {project.name} names no repository any more."
    if project.status is ProjectStatus.ARCHIVED:
        return f"project {project.name} was archived; its repository is no longer checked."
    return None


def incident_title(project_name: str) -> str:
    """One line per project, the same at every run: an open incident with it is not repeated."""
    return f"{TITLE_PREFIX}{project_name}{TITLE_SUFFIX}"


def shown(url: str | None) -> str:
    """A repository URL as people may read it: no credentials, no control characters, short."""
    text = _UNPRINTABLE.sub("?", url or "")
    try:
        parts = urlsplit(text)
        if parts.username is not None or parts.password is not None:
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            text = urlunsplit(parts._replace(netloc=f"***@{host}{port}"))
    except ValueError:
        text = "(an URL that does not parse)"
    return text if len(text) <= URL_CHARS else text[: URL_CHARS - 1] + "…"


def incident_details(project: ProjectRead) -> str:
    return (
        f"The repository of project {project.name} (id {project.id}, status "
        f"{project.status.value}) is gone: the forge has no repository at "
        f"{shown(project.repository_url)} that this system may read (on GitHub: deleted, moved "
        "away, or no longer visible to the GitHub App). Work on the project, its tests and its "
        "deploys fail until it is back. The project itself was left as it is.\n"
        "What you can do:\n"
        "- Deleted by mistake: restore it (GitHub keeps a deleted repository 90 days: the "
        "owner's settings, Repositories, Deleted repositories; on the local forge, put the bare "
        "repository back at that path from a backup).\n"
        "- On GitHub: check that the GitHub App is still installed on the owner and may see "
        "this repository.\n"
        "- Moved: set the project's repository_url to where it is now "
        f"(PATCH /api/projects/{project.id}).\n"
        "- No longer wanted: archive the project.\n"
        "The scheduler checks again at every repository sync and resolves this incident once "
        "the repository is there."
    )


def recovered(project: ProjectRead) -> str:
    url = shown(project.repository_url)
    return f"the repository of project {project.name} is there again: {url}."


def resolution(details: str, why: str) -> str:
    """The incident's details when it is resolved: what it said, then why it ended."""
    return f"{details}\n\nResolved by the scheduler: {why}"
