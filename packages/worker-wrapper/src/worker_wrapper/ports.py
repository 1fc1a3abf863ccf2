"""What the handlers use, as Protocols; `bootstrap` binds the adapters that implement them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel
from shared.contracts import LifecycleEventKind, WorkerActivity

from worker_wrapper.domain.tester import CommandRun
from worker_wrapper.domain.turns import TurnResult


class GitError(RuntimeError):
    """A git command failed (its stderr's tail is the message)."""


class Agent(Protocol):
    """The coding agent's CLI: one turn per call, stopped when the worker is."""

    @property
    def instructions_file(self) -> str:
        """The file it reads its instructions from (CLAUDE.md, AGENTS.md)."""
        ...

    async def turn(
        self,
        prompt: str,
        *,
        cwd: Path,
        session_id: str | None,
        timeout_s: float,
        extra_env: Mapping[str, str] | None = None,
    ) -> TurnResult: ...

    async def has_session(self, session_id: str) -> bool:
        """Whether the agent's home holds the session's files, so `turn` can resume it (True
        when the agent keeps them where the wrapper cannot tell)."""
        ...


class Git(Protocol):
    """git, run by the wrapper itself; every method raises GitError when git fails."""

    async def clone(self, url: str, branch: str, dest: Path) -> str:
        """Clone onto `branch` (created if new); the commit the work starts from."""
        ...

    async def check_out(self, url: str, commit: str, dest: Path) -> str:
        """Clone and check `commit` out, detached; its full sha. A commit the repository does
        not hold is a GitError naming it."""
        ...

    async def read_file(self, repo: Path, path: str) -> str | None:
        """The text of `path` in the commit checked out, as git holds it (a link is not
        followed); None when there is no such file."""
        ...

    async def head(self, repo: Path) -> str: ...

    async def push(self, repo: Path, branch: str) -> None: ...

    async def is_tracked(self, repo: Path, path: str) -> bool: ...

    async def ignore_locally(self, repo: Path, path: str) -> None: ...


class Shell(Protocol):
    """A project's own command (its tests): `/bin/sh -c COMMAND` in a process group of its own,
    stdin closed, an allowlisted environment, the tail of its output kept; killed as a group at
    the time limit or when the worker stops."""

    async def run(self, command: str, *, cwd: Path, timeout_s: float) -> CommandRun: ...


class Publisher(Protocol):
    async def publish(self, stream: str, message: BaseModel) -> object:
        """Publish, waiting out a Redis restart: an hour of the agent's work is not lost."""
        ...


class Lifecycle(Protocol):
    """The worker's lifecycle events, for worker-manager; STARTED leaves before any other."""

    async def report(
        self,
        event: LifecycleEventKind,
        *,
        task_id: str | None = None,
        exit_code: int | None = None,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> None: ...


class Heartbeat(Protocol):
    """The worker's own word on what it is doing, refreshed until the worker stops."""

    async def show(
        self,
        state: WorkerActivity,
        *,
        task_id: str | None = None,
        request_id: str | None = None,
        status: str | None = None,
    ) -> None:
        """Say this at once (worker-manager must not see a busy worker as idle) and in every
        beat from now on."""
        ...

    async def beat(self) -> None:
        """Write what it says again, with a fresh lifetime."""
        ...

    async def clear(self) -> None: ...


class Sessions(Protocol):
    """A PO worker's agent session id, kept so a restarted worker continues the conversation."""

    async def get(self) -> str | None: ...

    async def set(self, session_id: str) -> None: ...


class InterimReplies(Protocol):
    """What the agent told the user during a turn: the interim outputs (`orchestrator respond`)
    on the PO worker's own output stream."""

    async def mark(self) -> str:
        """Where the stream ends now."""
        ...

    async def since(self, mark: str) -> list[str]:
        """The texts of the interim outputs published after `mark`, in order."""
        ...


class Stopping(Protocol):
    """The part of the service's lifetime a background task watches."""

    async def sleep(self, seconds: float) -> bool:
        """Wait `seconds` or until the service stops; True when it is stopping."""
        ...
