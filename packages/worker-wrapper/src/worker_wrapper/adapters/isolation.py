"""What keeps the agent's processes (its turns, the tools it runs, a project's test commands) away
from the wrapper's own credentials: its environment (REDIS_URL, GIT_TOKEN, ...) and its files.

- AGENT_USER (the docker backend's `agent`): the wrapper runs as root and starts every such
  process as that user, with its own group and no other; another user cannot read the wrapper's
  `/proc/<pid>/environ` nor its private files. The directories the agent works in are handed to
  it.
- AGENT_SANDBOX=bwrap (for the process backend, where bubblewrap is installed): each such process
  runs in bubblewrap with a PID namespace and a /proc of its own, so no process of the wrapper is
  in sight; the file system is read-only but for the workspace and TMPDIR (the workspace's
  `.tmp` when unset), the network shared.
- Neither: the agent runs as the wrapper does and can read its environment through /proc.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("worker_wrapper")

BWRAP = "bwrap"


class IsolationError(RuntimeError):
    """The isolation asked for cannot be had: the wrapper must not start."""


@dataclass(frozen=True)
class AgentUser:
    name: str
    uid: int
    gid: int

    @classmethod
    def named(cls, name: str) -> AgentUser:
        if os.geteuid() != 0:
            raise IsolationError(
                f"AGENT_USER={name} needs the wrapper to run as root (it runs as uid "
                f"{os.geteuid()}): only root can start the agent as another user. Unset "
                "AGENT_USER or run the wrapper as root."
            )
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise IsolationError(f"AGENT_USER={name}: there is no such user") from None
        if entry.pw_uid == 0:
            raise IsolationError(f"AGENT_USER={name} is root: the agent would hold the wrapper's")
        return cls(name, entry.pw_uid, entry.pw_gid)

    def hand_over(self, path: Path) -> None:
        """Make the directory `path` (made if missing) the agent's, with all it holds, unless it
        is the agent's already (what the agent made is its own; only what the wrapper made, or a
        worker of an older image left, is not). Links are changed, never followed, and the walk
        goes by directory descriptors, so a directory swapped for a link meanwhile leads nowhere."""
        path.mkdir(parents=True, exist_ok=True)
        if path.lstat().st_uid == self.uid:
            return
        os.chown(path, self.uid, self.gid, follow_symlinks=False)
        for _, dirs, files, fd in os.fwalk(path, follow_symlinks=False):
            for name in [*dirs, *files]:
                self._own_entry(name, fd)

    def give(self, path: Path, *, below: Path) -> None:
        """Make `path` and its directories up to `below` (a directory the agent owns) the
        agent's: a file the wrapper wrote for it there."""
        for part in [path, *path.parents]:
            if part == below or below not in part.parents:
                return
            if part.lstat().st_uid != self.uid:
                os.chown(part, self.uid, self.gid, follow_symlinks=False)

    def _own_entry(self, name: str, dir_fd: int) -> None:
        if os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_uid != self.uid:
            os.chown(name, self.uid, self.gid, dir_fd=dir_fd, follow_symlinks=False)


@dataclass(frozen=True)
class Isolation:
    """How the processes started for the agent run; the default is as the wrapper does."""

    user: AgentUser | None = None
    bwrap: str | None = None
    workspace: Path | None = None

    def command(self, argv: list[str], env: dict[str, str]) -> list[str]:
        if self.bwrap is None or self.workspace is None:
            return argv
        # /tmp stays in sight, read-only like everything but the workspace: the agent's own
        # programs may live there (a checkout under /tmp), and a tmpfs over it would hide them.
        confined = [self.bwrap, "--die-with-parent", "--unshare-pid", "--ro-bind", "/", "/"]
        confined += ["--dev", "/dev", "--proc", "/proc", "--bind"]
        confined += [str(self.workspace), str(self.workspace)]
        if env.get("TMPDIR"):
            confined += ["--bind", env["TMPDIR"], env["TMPDIR"]]
        else:
            scratch = self.workspace / ".tmp"
            scratch.mkdir(exist_ok=True)
            confined += ["--setenv", "TMPDIR", str(scratch)]
        return [*confined, "--", *argv]

    def popen_args(self) -> dict[str, Any]:
        """subprocess's arguments for the process to run as the agent's user, if any."""
        if self.user is None:
            return {}
        return {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}

    def hand_over(self, path: Path) -> None:
        """`path`, a directory the agent works in, made if missing and made the agent's."""
        if self.user is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            self.user.hand_over(path)

    def give(self, path: Path, *, below: Path) -> None:
        if self.user is not None:
            self.user.give(path, below=below)

    def describe(self) -> str:
        parts = []
        if self.user is not None:
            parts.append(f"as user {self.user.name} (uid {self.user.uid})")
        if self.bwrap is not None:
            parts.append("in bubblewrap (its own PID namespace and /proc)")
        return " and ".join(parts) or "as the wrapper's user, unconfined"


def agent_isolation(user: str | None, sandbox: str | None, *, workspace: Path) -> Isolation:
    """The isolation the settings ask for, said once in the log; raises IsolationError when an
    agent user is asked of a wrapper that cannot switch to it."""
    agent_user = AgentUser.named(user) if user else None
    bwrap = shutil.which(BWRAP) if sandbox == BWRAP else None
    isolation = Isolation(agent_user, bwrap, workspace)
    if sandbox == BWRAP and bwrap is None:
        log.info("AGENT_SANDBOX=bwrap, but bwrap is not on PATH: the agent runs unsandboxed")
    log.info("the agent's processes run " + isolation.describe(), isolation=isolation.describe())
    return isolation
