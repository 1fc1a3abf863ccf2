"""What the scheduler needs from the outside: the shared schedule (leases, fences, each job's
state), the API (servers, incidents, tasks, projects), streams to publish on and to keep, a
server provider, a forge, and the workers worker-manager keeps.

Every port raises its own `…Refused` for what asking again will not change; anything else (a 5xx,
no connection) is transient: the job's run fails and the next run tries again."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel
from shared.contracts import (
    IncidentRead,
    IncidentSeverity,
    JobOutcome,
    ProjectRead,
    SchedulerRun,
    ServerCreate,
    ServerRead,
    ServerStatus,
    ServerUpdate,
    TaskRead,
    TaskStatus,
    WorkerStatus,
)

Summary = Mapping[str, int | str]


class LeaseLost(Exception):
    """The run no longer holds its job: another run may have started. Stop before writing."""


class Lease(Protocol):
    """A run's hold on its job, renewed in the background while the run lives."""

    @property
    def fence(self) -> int:
        """This run's fencing token: larger than every earlier run's of the job."""
        ...

    def check(self) -> None:
        """Raises LeaseLost once the run's hold may have passed to another run; a job calls it
        before each write, so a run that stalled past its lease writes nothing more."""
        ...


JobRun = Callable[[Lease], Coroutine[Any, Any, Summary]]


@dataclass(frozen=True)
class Start:
    """The answer to asking for a job: a fence when this replica may run it now; otherwise when
    it is next due (`due_ms`), or None while another run holds it."""

    fence: int | None
    now_ms: int
    due_ms: int | None


@dataclass(frozen=True)
class Finished:
    started_ms: int
    finished_ms: int
    next_due_ms: int


class Schedule(Protocol):
    """The jobs' shared state, one clock for every replica (Redis's)."""

    async def register(self, intervals: Mapping[str, float]) -> None:
        """Make the jobs known (for `codegen status`) with their intervals."""
        ...

    async def try_start(self, job: str, holder: str, lease_ms: int) -> Start:
        """Take the job if nobody holds it and it is due: its next fence, the lease held."""
        ...

    async def renew(self, job: str, fence: int, holder: str, lease_ms: int) -> bool:
        """Extend the lease; False when this run no longer holds it."""
        ...

    async def finish(
        self,
        job: str,
        fence: int,
        holder: str,
        *,
        outcome: JobOutcome,
        error: str | None,
        next_in_ms: int,
    ) -> Finished | None:
        """Record how the run ended and when the job is next due (`next_in_ms` after it started,
        or now if that has passed) and release the lease; None (nothing written) when a later
        run has started meanwhile."""
        ...

    async def record(self, run: SchedulerRun) -> None:
        """Add the run to the history (`scheduler:runs`)."""
        ...


class Publisher(Protocol):
    async def publish(self, stream: str, message: BaseModel) -> str: ...

    async def publish_once(self, stream: str, message: BaseModel) -> str | None:
        """Append unless a message with its request id went to the stream already."""
        ...


class ApiRefused(Exception):
    """The API refused a request (a 4xx): asking again would be refused again."""


class Servers(Protocol):
    async def servers(self, status: ServerStatus | None = None) -> list[ServerRead]: ...

    async def server(self, server_id: str) -> ServerRead | None: ...

    async def create_server(self, server: ServerCreate) -> ServerRead:
        """Registers it; raises ApiRefused when its name is taken."""
        ...

    async def update_server(self, server_id: str, change: ServerUpdate) -> ServerRead: ...


class Incidents(Protocol):
    async def open_incidents(self, server_id: str | None = None) -> list[IncidentRead]:
        """Every incident not resolved yet (open or acknowledged), of one server if given."""
        ...

    async def open_incident(
        self, *, server_id: str | None, severity: IncidentSeverity, title: str, details: str
    ) -> IncidentRead:
        """Opens it unless one with the same title (and server) is not resolved yet; that one,
        then."""
        ...

    async def resolve_incident(self, incident_id: str, details: str | None = None) -> None: ...


class Tasks(Protocol):
    async def tasks(self, status: TaskStatus) -> list[TaskRead]:
        """Every task in that status (all pages)."""
        ...

    async def task(self, task_id: str) -> TaskRead | None:
        """The task; None when the API has no such task."""
        ...


class Projects(Protocol):
    async def projects(self) -> list[ProjectRead]:
        """Every project (all pages)."""
        ...


class Streams(Protocol):
    """Redis's streams, for housekeeping."""

    async def work_streams(self) -> list[str]:
        """Every work stream that exists (the registry's, patterns resolved by a scan)."""
        ...

    async def trim(self, stream: str) -> int:
        """Delete what every group acknowledged; how many entries went."""
        ...

    async def dead_letters(self) -> dict[str, int]:
        """Each dead-letter stream's length."""
        ...

    async def seen_dead_letters(self) -> dict[str, int]:
        """The lengths remembered at the last run."""
        ...

    async def remember_dead_letters(self, counts: Mapping[str, int]) -> None: ...


@dataclass(frozen=True)
class ProviderServer:
    """A machine as the provider lists it."""

    provider_id: str
    name: str
    address: str | None
    running: bool
    cpu_cores: int | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None


class ProviderRefused(Exception):
    """The provider refused (bad token, bad request): asking again changes nothing."""


class Provider(Protocol):
    async def servers(self) -> list[ProviderServer]:
        """Every server the provider has for us; raises ProviderRefused."""
        ...


class Forge(Protocol):
    async def repository_exists(self, repository: str) -> bool | None:
        """Whether the repository is there; None when the forge cannot tell (not ours to
        check, or the forge is down)."""
        ...


class Workers(Protocol):
    """The workers worker-manager keeps (its status keys), read-only."""

    async def live_workers(self) -> list[tuple[str, WorkerStatus]]:
        """(worker id, status) of every worker starting, running or paused."""
        ...


class ProvisioningRetries(Protocol):
    """Each pending server's retry count and when its next retry may go (ms, Redis's clock)."""

    async def retry_state(self, server_id: str) -> tuple[int, int] | None:
        """(attempts made, next allowed at ms), or None before the first."""
        ...

    async def record_retry(self, server_id: str, attempts: int, next_at_ms: int) -> None: ...

    async def forget(self, server_id: str) -> None: ...

    async def record_answer(self, server_id: str, number: int) -> None:
        """infra-service answered the server's request `number`."""
        ...

    async def answered(self, server_id: str) -> int:
        """The number of the server's latest request infra-service answered (0: none)."""
        ...

    async def requests_made(self, server_id: str) -> int:
        """How many requests went for the server (one per `record_retry`), forgotten retries
        included, for as long as its state is kept (a week after the last): a new request's
        number is one more, so no request id is used twice while publish_once and infra-service
        still remember it."""
        ...

    async def now_ms(self) -> int: ...
