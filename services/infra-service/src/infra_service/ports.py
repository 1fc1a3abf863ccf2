"""What the handlers need from the outside: the API, secrets, sources, a playbook runner, the
locks that keep two jobs off one target, a way to ask whether a server answers, and the queue's
side (answers kept and published once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from shared.contracts import IncidentSeverity, ProjectRead, ServerRead, ServerStatus

from infra_service.domain.health import Probe
from infra_service.domain.inventory import Target
from infra_service.domain.results import RunOutcome

M = TypeVar("M", bound=BaseModel)


class InventoryRefused(Exception):
    """The API refused a request (a 4xx), or it could not be made: retrying changes nothing."""


class Inventory(Protocol):
    """Servers, projects, ports, deployments and incidents, as the API keeps them.

    Every method raises InventoryRefused for what will never succeed; any other error (a 5xx,
    no connection) is transient."""

    async def server(self, handle: str) -> ServerRead | None: ...

    async def project(self, project_id: str) -> ProjectRead | None: ...

    async def set_server_status(self, server_id: str, status: ServerStatus) -> None: ...

    async def open_incident(
        self, server_id: str, severity: IncidentSeverity, title: str, details: str
    ) -> None: ...

    async def port_for(
        self, server_id: str, project_id: str, service_name: str, port: int | None = None
    ) -> int:
        """The service's port on the server, allocated (`port` if given) unless it has one."""
        ...

    async def record_deployment(
        self,
        *,
        project_id: str,
        server_id: str,
        service_name: str,
        port: int,
        commit_sha: str,
        url: str | None,
        running: bool,
    ) -> None:
        """The service runs `commit_sha` now; or (`running` false) its deploy failed."""
        ...


class Secrets(Protocol):
    def resolve(self, ref: str) -> str:
        """The value a reference names; raises SecretUnavailable."""
        ...


class Sources(Protocol):
    async def archive(self, repo_url: str, commit: str, dest: Path, token: str | None) -> Path:
        """Fetch `commit` and pack its tree into `dest`; raises SourceUnavailable."""
        ...

    async def read_file(self, archive: Path, name: str) -> str | None: ...


@dataclass(frozen=True)
class PlaybookJob:
    """One playbook run on one target. `secret_env` reaches only the Ansible process's
    environment, and `ssh_key` only the job's ssh-agent."""

    playbook: str
    target: Target
    extravars: dict[str, Any]
    secret_env: dict[str, str] = field(default_factory=dict)
    ssh_key: str | None = None


class Playbooks(Protocol):
    async def run(self, job: PlaybookJob) -> RunOutcome: ...


class Probes(Protocol):
    """Whether a server answers; never raises for a server that does not."""

    async def ssh(self, target: Target, ssh_key: str | None) -> Probe:
        """One SSH login as a deploy makes it (batch mode, the target's key in an agent of its
        own, known hosts as deploys keep them), within the connect timeout."""
        ...

    async def local(self, deploy_root: Path, programs: Sequence[Path]) -> Probe:
        """Whether this machine can run a deploy: `deploy_root` can be made or written, and
        `programs` run."""
        ...


class Publisher(Protocol):
    async def publish(self, stream: str, message: BaseModel) -> str: ...


class Idempotency(Protocol):
    async def run_once(
        self, scope: str, request_id: str, effect: Callable[[], Awaitable[None]]
    ) -> object:
        """Run `effect` unless this request already ran it; raises while another delivery of
        the request runs it."""
        ...


class ResultStore(Protocol):
    """Each request's result, kept for a repeat of the request."""

    async def keep(self, scope: str, request_id: str, result: BaseModel) -> None: ...

    async def kept(self, scope: str, request_id: str, result_type: type[M]) -> M | None:
        """The result kept for the request, or None once it expired."""
        ...


class JobLocks(Protocol):
    """One job at a time per target: held while the job runs, waited for by the next."""

    def deploy(self, server_id: str, project_id: str) -> AbstractAsyncContextManager[object]: ...

    def provision(self, server_id: str) -> AbstractAsyncContextManager[object]: ...
