"""Where a project's repository is fetched from, and which commit."""

from __future__ import annotations

import re

_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{4,64}$")


class SourceUnavailable(Exception):
    """The repository or the commit cannot be fetched."""


def repository_url(repo_full_name: str, forge_url: str) -> str:
    """`owner/name` on the forge, or a URL or local path given as is (the `local` forge)."""
    if "://" in repo_full_name or repo_full_name.startswith("/"):
        return repo_full_name
    if not _FULL_NAME.match(repo_full_name) or ".." in repo_full_name:
        raise SourceUnavailable(f"repository {repo_full_name!r} is not `owner/name` or a URL")
    return f"{forge_url.rstrip('/')}/{repo_full_name}.git"


def check_commit(commit: str) -> str:
    if not _COMMIT.match(commit):
        raise SourceUnavailable(f"commit {commit!r} is not a hexadecimal commit id")
    return commit
