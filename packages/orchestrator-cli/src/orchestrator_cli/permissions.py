"""Which commands an agent may run: `ALLOWED_COMMANDS`, checked before anything is called.

The value is a comma list of patterns (`project.get`, `deploy.*`, `*`) and profile names.
Unset or empty allows nothing (see docs/decisions/0005-cli-permissions.md).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

PROFILES: dict[str, tuple[str, ...]] = {
    "PRODUCT_OWNER": ("*",),
    "DEVELOPER": ("project.get", "project.list", "engineering.status", "respond"),
    "DEVOPS": ("project.get", "deploy.*", "infra.*", "respond"),
}


def expand(allowed: str | None) -> tuple[str, ...]:
    """The patterns an ALLOWED_COMMANDS value grants, profiles expanded."""
    patterns: list[str] = []
    for item in (allowed or "").split(","):
        name = item.strip()
        if name:
            patterns.extend(PROFILES.get(name.upper(), (name,)))
    return tuple(dict.fromkeys(patterns))


def is_allowed(command: str, patterns: tuple[str, ...]) -> bool:
    """`command` is `group.command` (or a lone command such as `respond`)."""
    return any(_matches(command, pattern) for pattern in patterns)


def _matches(command: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return command.split(".", 1)[0] == pattern[:-2]
    return fnmatchcase(command, pattern)
