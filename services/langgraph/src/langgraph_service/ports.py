"""What the flows and handlers use, as Protocols; `bootstrap.py` picks the adapters."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel
from shared.contracts import (
    OutcomeStatus,
    ProjectRead,
    ProjectStatus,
    ServerRead,
    TaskRead,
    TaskStatus,
)


class Publisher(Protocol):
    async def publish_once(self, stream: str, message: BaseModel) -> str | None:
        """Append `message` unless its request_id went to `stream` already; the entry id."""
        ...


class Refused(RuntimeError):
    """The API refused a request (a 4xx other than 404): asking again will not help."""


class Projects(Protocol):
    async def get(self, project_id: str) -> ProjectRead | None: ...

    async def update(
        self,
        project_id: str,
        *,
        status: ProjectStatus | None = None,
        commit_sha: str | None = None,
    ) -> None:
        """Raises Refused (e.g. a transition the API does not allow)."""
        ...


class Tasks(Protocol):
    async def get(self, task_id: str) -> TaskRead | None: ...

    async def update(
        self,
        task_id: str,
        *,
        status: TaskStatus,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Raises Refused when the API refuses (a terminal status written already)."""
        ...

    async def cancelled(self, task_ids: list[str]) -> set[str]:
        """Which of these tasks are cancelled."""
        ...


class Executions(Protocol):
    """One row per worker run (`request_id` = the worker input's)."""

    async def start(self, request_id: str, task_id: str, worker_id: str) -> str | None:
        """The run's row, made the first time; its id (None when the task is gone)."""
        ...

    async def finish(
        self,
        request_id: str,
        *,
        execution_id: str | None,
        task_id: str,
        worker_id: str,
        status: OutcomeStatus,
        duration_ms: int | None,
        exit_code: int | None,
        result: dict[str, Any],
    ) -> None: ...


class Servers(Protocol):
    async def by_name(self, name: str) -> ServerRead | None: ...

    async def allocate_port(self, server_id: str, project_id: str, service_name: str) -> int:
        """The project service's port on the server (the same one when asked again)."""
        ...


class Health(Protocol):
    async def answers(self, url: str) -> bool:
        """Whether `url` answers 2xx or 3xx now."""
        ...


class Sleep(Protocol):
    async def __call__(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class FlowRow:
    thread_id: str
    graph: str
    status: str
    request_id: str | None
    deadline: datetime | None


class Flows(Protocol):
    """Every flow this service runs, with what it waits for: how deadlines, cancellations and
    flows left running by a dead process are found without reading every checkpoint."""

    async def graph_of(self, thread_id: str) -> str | None: ...

    async def row(self, thread_id: str) -> FlowRow | None: ...

    async def running(self, thread_id: str, graph: str) -> None: ...

    async def waiting(
        self, thread_id: str, *, request_id: str, stream: str, deadline: datetime
    ) -> None: ...

    async def done(self, thread_id: str) -> None: ...

    async def overdue(self, now: datetime, stalled_before: datetime, limit: int) -> list[FlowRow]:
        """Waits past their deadline, and flows marked running since before `stalled_before`."""
        ...

    async def unfinished(self, after: str, limit: int) -> list[str]:
        """Thread ids of flows not done, in order, after `after` (for cancellation checks)."""
        ...


class Locks(Protocol):
    """One process at a time runs a thread: whoever holds its lock."""

    def hold(self, thread_id: str) -> AbstractAsyncContextManager[None]:
        """Waits for the lock (at most the configured time; then raises LockTimeout)."""
        ...

    def try_hold(self, thread_id: str) -> AbstractAsyncContextManager[bool]:
        """The lock if it is free at once: yields whether it was taken."""
        ...


class LockTimeout(RuntimeError):
    """Another process held the flow's lock for too long."""


class Crash(Protocol):
    """Tests only: the process dies at a configured point (see `crash_at`)."""

    def point(self, name: str) -> None: ...
