"""What the handlers need: a backend that runs workers, the API for their keys, and stores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.contracts import WorkerConfig


@dataclass(frozen=True)
class WorkerSpec:
    worker_id: str
    config: WorkerConfig
    env: dict[str, str]
    workspace: Path
    labels: dict[str, str]


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


class WorkerKeys(Protocol):
    async def create(self, user_id: str, worker_id: str, ttl_s: int) -> tuple[str, str]:
        """A user-scoped key for the worker: (key id, secret)."""
        ...

    async def revoke(self, key_id: str) -> None: ...
