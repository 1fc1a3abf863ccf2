"""What the handlers need: a backend that runs workers, the API for their keys, the stores in
Redis, and the workers' workspaces. Implemented in adapters/, chosen in bootstrap.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel
from shared.contracts import WorkerConfig, WorkerHeartbeat, WorkerState, WorkerStatus, WorkerType
from shared.permissions import RedisRight

from worker_manager.domain.record import WorkerRecord


@dataclass(frozen=True)
class UserHome:
    """A PO worker's workspace, its user's and kept across their PO workers."""

    user_id: str
    path: Path


@dataclass(frozen=True)
class WorkerMount:
    """An extra mount of every worker container (WORKER_VOLUMES): a named volume or an absolute
    path of the engine's host, at an absolute path outside /workspace."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class WorkerSpec:
    worker_id: str
    config: WorkerConfig
    env: dict[str, str]
    workspace: Path
    """The worker's own directory (its log), removed when it ends; where it works, without a
    `home`."""
    labels: dict[str, str]
    home: UserHome | None = None
    """Where a PO worker works instead (WORKSPACE_DIR): the process backend's `home.path`; the
    docker backend mounts the user's named volume at /workspace."""


@dataclass(frozen=True)
class Created:
    """What a create request did: the worker it started, or why it started none."""

    worker_id: str | None
    error: str = ""


class WorkerBackend(Protocol):
    """Runs workers. A handle is the backend's own name for one (a pid, a container id)."""

    async def start(self, spec: WorkerSpec) -> str: ...
    async def stop(self, handle: str, grace_s: float) -> int | None: ...
    async def pause(self, handle: str) -> None: ...
    async def resume(self, handle: str) -> None: ...
    async def exit_code(self, handle: str) -> int | None:
        """None while the worker runs; its exit code (or -1 if unknown) once it has ended."""
        ...

    async def remove(self, handle: str, worker_id: str) -> None:
        """Remove what is left of an ended worker (its container; its processes, reaped): a
        no-op for what is gone already."""
        ...


class EngineDeaths(Protocol):
    """An engine that reports its containers' deaths as they happen (docker)."""

    def deaths(self) -> AsyncIterator[tuple[str, int]]:
        """(worker id, exit code) for each worker container that dies; ends if the engine's
        event stream does."""
        ...


class ImageCollector(Protocol):
    async def collect_garbage(self, max_idle_days: float) -> list[str]:
        """Remove worker images unused for `max_idle_days`; the removed tags."""
        ...


class WorkerKeys(Protocol):
    async def create(
        self, user_id: str, worker_id: str, ttl_s: int, scopes: tuple[str, ...]
    ) -> tuple[str, str]:
        """A key acting for the user with only these API scopes: (key id, secret)."""
        ...

    async def revoke(self, key_id: str) -> None: ...


@dataclass(frozen=True)
class WorkerRedisUrls:
    """The Redis URLs a worker is given: its wrapper's and its agent's, each with own rights."""

    wrapper: str = field(repr=False)
    agent: str = field(repr=False)


class WorkerAccess(Protocol):
    """Who may do what in Redis: each worker's own users."""

    async def grant(
        self, worker_id: str, worker_type: WorkerType, agent_rights: tuple[RedisRight, ...]
    ) -> WorkerRedisUrls:
        """Make (or replace) the worker's wrapper and agent users."""
        ...

    async def revoke(self, worker_id: str) -> None:
        """Delete the worker's users, closing their connections; idempotent."""
        ...

    async def holders(self) -> set[str]:
        """The workers that hold users."""
        ...


class Secrets(Protocol):
    """Where the secret references of a worker's config point (`shared.secrets`)."""

    def resolve(self, ref: str) -> str:
        """The value `ref` names; raises SecretUnavailable (naming the reference, never a value)."""
        ...


class ForgeTokens(Protocol):
    """Short-lived credentials a worker's wrapper pushes with, one repository each."""

    async def mint(self, worker_id: str, repository: str) -> str | None:
        """A token that may read and push `repository` (a clone URL) and nothing else, kept
        until `revoke`; None when the forge needs none (the local forge, or a repository that is
        not on it)."""
        ...

    async def revoke(self, worker_id: str) -> None:
        """Revoke the worker's token, if it holds one; idempotent."""
        ...


class StatusStore(Protocol):
    """`worker:status:{id}` and the indexes of live and ended workers. A final state, once
    written, is never replaced (an update that would is refused whole) and expires."""

    async def create(self, worker_id: str, worker_type: WorkerType, **fields: str) -> None: ...
    async def record(self, worker_id: str) -> WorkerRecord | None: ...
    async def status(self, worker_id: str) -> WorkerStatus | None: ...
    async def update(
        self, worker_id: str, state: WorkerState | None = None, /, **fields: Any
    ) -> bool:
        """Write fields (None clears one) and a state; False, writing nothing, if the worker is
        unknown or this would leave a final state."""
        ...

    async def live(self) -> list[str]:
        """Workers starting, running or paused."""
        ...

    async def ended(self) -> list[str]:
        """Ended workers whose remains are still to be removed."""
        ...

    async def removed(self, worker_id: str) -> None: ...


class Creations(Protocol):
    """Runs a create request's start once however often it is delivered, and remembers the
    worker it started."""

    async def once(self, request_id: str, start: Callable[[], Awaitable[Created]]) -> Created:
        """What `start` did, the first time; for a request already done, the worker it started
        (or none, and why). Raises while another delivery runs it (the entry stays pending)."""
        ...


class UnfinishedWork(Protocol):
    async def report(
        self, worker_id: str, worker_type: WorkerType, reason: str, exit_code: int | None
    ) -> list[str]:
        """Answer every input the dead worker took and did not acknowledge (and, a developer
        worker's stream being its own, every run it never took), each exactly once whoever else
        tries; the request ids answered."""
        ...


class Heartbeats(Protocol):
    async def heartbeat(self, worker_id: str) -> WorkerHeartbeat | None:
        """The worker's own word on what it does; None when it says nothing (yet) readable."""
        ...


class WorkerInputs(Protocol):
    async def has_work(self, worker_id: str, worker_type: WorkerType) -> bool:
        """Whether input waits for the worker or is held by it unacknowledged."""
        ...

    async def remove(self, worker_id: str, worker_type: WorkerType) -> None:
        """Delete an ended worker's input stream once its unfinished work is answered: a
        developer worker's (one per worker, read by nobody else); a PO worker's is kept."""
        ...


class Workspaces(Protocol):
    def path(self, worker_id: str) -> Path: ...
    def home_of(self, user_id: str) -> Path:
        """A user's PO home: kept across their PO workers, never removed with one."""
        ...

    async def remove(self, worker_id: str) -> None:
        """Delete the worker's workspace (gone already: nothing to do; one in use is kept)."""
        ...

    async def kept(self) -> set[str]:
        """The workers whose workspaces are kept apart from them (named volumes), each one
        `remove` deletes; none for directories."""
        ...


class Publisher(Protocol):
    async def publish(self, stream: str, message: BaseModel) -> str: ...
