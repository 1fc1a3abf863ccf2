"""Where a project's repository is fetched from, and which commit.

Everything here ends up on git's command line: a reference is accepted only in the forms the
contract allows (`owner/name`, an http(s)/ssh/git/file URL, an absolute path), never one that git
could read as an option (`-…`) or hand to a helper (`ext::`, `fd::`), whatever the producer sent.
"""

from __future__ import annotations

import re

_FULL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_URL = re.compile(r"^(https?|ssh|git|file)://([A-Za-z0-9_.~@\[\]:/%+=-]+)$")
_PATH = re.compile(r"^/[A-Za-z0-9_.~@/%+=-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{4,64}$")
_SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_REFERENCE = 1024
# The protocols git may use for a fetch (its GIT_ALLOW_PROTOCOL): never `ext` or `fd`.
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"


class SourceUnavailable(Exception):
    """The repository or the commit cannot be fetched."""


class InvalidSource(SourceUnavailable):
    """The message names a repository, commit or project in a form that is never valid."""


def repository_url(repo_full_name: str, forge_url: str) -> str:
    """`owner/name` on the forge, or an allowed URL or absolute path given as is."""
    ref = repo_full_name
    if len(ref) > MAX_REFERENCE or not _acceptable(ref):
        raise InvalidSource(
            f"repository {ref[:100]!r} is not `owner/name`, an http(s)/ssh/git/file URL "
            "or an absolute path"
        )
    if _FULL_NAME.fullmatch(ref):
        return f"{forge_url.rstrip('/')}/{ref}.git"
    return ref


def _acceptable(ref: str) -> bool:
    url = _URL.fullmatch(ref)
    if url:
        path = url.group(2)
        # A user, host or port that reads as an option (`ssh://-oProxyCommand=…`) is never
        # passed on: git would hand it to ssh.
        authority = path.partition("/")[0]
        if any(part.startswith("-") for part in re.split(r"[@:]", authority)):
            return False
    elif _FULL_NAME.fullmatch(ref) or _PATH.fullmatch(ref):
        path = ref
    else:
        return False
    return not any(segment in {".", ".."} for segment in path.split("/"))


def check_commit(commit: str) -> str:
    if not _COMMIT.fullmatch(commit):
        raise InvalidSource(f"commit {commit[:100]!r} is not a hexadecimal commit id")
    return commit


def check_project_name(name: str) -> str:
    """A project's name becomes directory, program and file names on the target."""
    if not _SLUG.fullmatch(name):
        raise InvalidSource(f"project name {name[:100]!r} is not a lowercase DNS label")
    return name
