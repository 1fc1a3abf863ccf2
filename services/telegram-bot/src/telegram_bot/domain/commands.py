"""The quick commands: which text is one, and how their answers read.

A quick command is answered from the API without the PO. `/new` is not quick: it ends the
conversation, so it takes its place in the user's line of messages to the PO.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from shared.contracts import ProjectRead, ServerRead, TaskRead

# `/name`, or `/name@bot` in a group, then anything.
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@[A-Za-z0-9_]{1,64})?(?:\s|$)")
LIST_LIMIT = 20


class _Dated(Protocol):
    @property
    def created_at(self) -> datetime: ...


D = TypeVar("D", bound=_Dated)


class Command(StrEnum):
    START = "start"
    HELP = "help"
    NEW = "new"
    PROJECTS = "projects"
    TASKS = "tasks"
    SERVERS = "servers"


QUICK = frozenset({Command.START, Command.HELP, Command.PROJECTS, Command.TASKS, Command.SERVERS})

DESCRIPTIONS: dict[Command, str] = {
    Command.PROJECTS: "your projects and where they stand",
    Command.TASKS: "your latest tasks",
    Command.SERVERS: "the servers projects run on",
    Command.NEW: "start a fresh conversation with your Product Owner",
    Command.HELP: "what I can do",
}

HELP = (
    "I connect you with your Product Owner, an AI agent that turns what you want into a "
    "project, has it built and tested, and deploys it. Just write to it.\n\n"
    + "\n".join(f"/{command.value} - {text}" for command, text in DESCRIPTIONS.items())
    + "\n\nWhile a task runs I keep one message up to date with its progress, and send the "
    "link when it is live."
)


class UnknownCommand(ValueError):
    """A `/word` that is none of the bot's commands."""


def parse(text: str) -> Command | None:
    """The command a message is, None for a message to the PO; raises UnknownCommand."""
    found = _COMMAND.match(text.strip())
    if found is None:
        return None
    try:
        return Command(found.group(1).lower())
    except ValueError:
        raise UnknownCommand(found.group(1)) from None


def is_quick(text: str) -> bool:
    """Answered at once, beside whatever the PO is doing (unknown commands too: with help)."""
    try:
        return parse(text) in QUICK
    except UnknownCommand:
        return True


def unknown_command(name: str) -> str:
    return f"I do not know /{name}.\n\n{HELP}"


def projects_text(projects: Sequence[ProjectRead]) -> str:
    if not projects:
        return "You have no projects yet. Tell your Product Owner what you would like built."
    lines = [f"Your projects ({len(projects)}):"]
    for project in _latest(projects):
        line = f"- {project.name}: {project.status.value}"
        if project.description:
            line += f" - {_short(project.description, 80)}"
        lines.append(line)
    return "\n".join(lines + _more(projects))


def tasks_text(tasks: Sequence[TaskRead], project_names: dict[str, str]) -> str:
    if not tasks:
        return "You have no tasks yet."
    lines = [f"Your latest tasks ({min(len(tasks), LIST_LIMIT)} of {len(tasks)}):"]
    for task in _latest(tasks):
        project = project_names.get(task.project_id, task.project_id[:8])
        line = f"- {task.type.value} of {project}: {task.status.value}"
        if task.error:
            line += f" ({_short(task.error, 80)})"
        lines.append(line)
    return "\n".join(lines)


def servers_text(servers: Sequence[ServerRead]) -> str:
    if not servers:
        return "No servers are registered."
    lines = [f"Servers ({len(servers)}):"]
    for server in list(servers)[:LIST_LIMIT]:
        where = "this machine" if server.is_local else server.address
        lines.append(f"- {server.name} ({where}): {server.status.value}")
    return "\n".join(lines + _more(servers))


def _latest(items: Sequence[D]) -> list[D]:
    return sorted(items, key=lambda item: item.created_at, reverse=True)[:LIST_LIMIT]


def _more(items: Sequence[object]) -> list[str]:
    extra = len(items) - LIST_LIMIT
    return [f"... and {extra} more"] if extra > 0 else []


def _short(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
