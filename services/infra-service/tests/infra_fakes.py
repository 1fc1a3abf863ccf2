"""Small fakes of infra-service's ports, for the domain's and the handlers' unit tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from infra_service.domain.health import Probe
from infra_service.domain.inventory import Target
from infra_service.domain.results import RunOutcome
from infra_service.ports import InventoryRefused, PlaybookJob
from pydantic import BaseModel
from shared.contracts import IncidentSeverity, ProjectRead, ServerRead, ServerStatus
from shared.secrets import SecretUnavailable

M = TypeVar("M", bound=BaseModel)


def server_record(**fields: Any) -> ServerRead:
    """A server as the API reads it: a remote one by default."""
    return ServerRead.model_validate(
        {
            "id": uuid.uuid4().hex,
            "name": "web-1",
            "address": "203.0.113.7",
            "ssh_user": "root",
            "ssh_port": 22,
            "ssh_key_ref": None,
            "is_local": False,
            "provider_id": None,
            "specs": {},
            "status": "active",
            "last_health_check_at": None,
            "created_at": datetime.now(UTC),
        }
        | fields
    )


def project_record(project_id: str, name: str) -> ProjectRead:
    now = datetime.now(UTC)
    return ProjectRead.model_validate(
        {
            "id": project_id,
            "name": name,
            "description": "",
            "status": "active",
            "modules": ["backend"],
            "repository_url": None,
            "owner_id": uuid.uuid4().hex,
            "created_at": now,
            "updated_at": now,
        }
    )


class FakeInventory:
    def __init__(
        self, servers: Iterable[ServerRead] = (), projects: Iterable[ProjectRead] = ()
    ) -> None:
        self.servers = {s.name: s for s in servers}
        self.projects = {p.id: p for p in projects}
        self.statuses: list[tuple[str, ServerStatus]] = []
        self.incidents: list[tuple[str, IncidentSeverity, str, str]] = []
        self.deployments: list[dict[str, Any]] = []
        # (server, project, service name) → port, as the API's /api/port-allocations keeps them.
        self.ports: dict[tuple[str, str, str], int] = {}
        self.refuse_records = False

    async def server(self, handle: str) -> ServerRead | None:
        return self.servers.get(handle)

    async def project(self, project_id: str) -> ProjectRead | None:
        return self.projects.get(project_id)

    async def set_server_status(self, server_id: str, status: ServerStatus) -> None:
        self.statuses.append((server_id, status))

    async def open_incident(
        self, server_id: str, severity: IncidentSeverity, title: str, details: str
    ) -> None:
        self.incidents.append((server_id, severity, title, details))

    async def port_for(
        self, server_id: str, project_id: str, service_name: str, port: int | None = None
    ) -> int:
        """As the API answers: the key's existing port again, else `port` (or the lowest free
        from 21000); a port held under another key is a 409."""
        key = (server_id, project_id, service_name)
        taken = {p for (server, *_), p in self.ports.items() if server == server_id}
        if key in self.ports:
            if port is not None and port != self.ports[key]:
                raise InventoryRefused(f"the service already has port {self.ports[key]} (409)")
            return self.ports[key]
        if port is None:
            port = min(set(range(21000, 21100)) - taken)
        elif port in taken:
            raise InventoryRefused(f"the API answered 409: port {port} is taken on this server")
        self.ports[key] = port
        return port

    async def record_deployment(self, **record: Any) -> None:
        if self.refuse_records:
            raise InventoryRefused("the API answered 409 to POST /api/service-deployments")
        self.deployments.append(record)


class FakePlaybooks:
    """Ends each run with the next of `outcomes` (the last one again when they run out)."""

    def __init__(self, *outcomes: RunOutcome) -> None:
        self.outcomes = list(outcomes)
        self.jobs: list[PlaybookJob] = []

    async def run(self, job: PlaybookJob) -> RunOutcome:
        self.jobs.append(job)
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


ANSWERED = Probe(True)


class FakeProbes:
    """Each SSH probe ends with the next of `answers` (the last one again when they run out);
    the `local` machine answers `local`."""

    def __init__(self, *answers: Probe, local: Probe = ANSWERED) -> None:
        self.answers = list(answers) or [ANSWERED]
        self.local_answer = local
        self.ssh_calls: list[tuple[Target, str | None]] = []
        self.local_calls: list[tuple[Path, list[Path]]] = []

    async def ssh(self, target: Target, ssh_key: str | None) -> Probe:
        self.ssh_calls.append((target, ssh_key))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def local(self, deploy_root: Path, programs: Sequence[Path]) -> Probe:
        self.local_calls.append((deploy_root, list(programs)))
        return self.local_answer


class FakeSecrets:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = values or {}

    def resolve(self, ref: str) -> str:
        if ref not in self.values:
            raise SecretUnavailable(f"secret {ref!r} is not set")
        return self.values[ref]


class FakeSources:
    """Every commit exists and holds `project_file` (None: no `.project.yml`)."""

    def __init__(self, project_file: str | None) -> None:
        self.project_file = project_file
        self.fetched: list[tuple[str, str, str | None]] = []

    async def archive(self, repo_url: str, commit: str, dest: Path, token: str | None) -> Path:
        self.fetched.append((repo_url, commit, token))
        return dest.with_name(f"{commit}.tar.gz")

    async def read_file(self, archive: Path, name: str) -> str | None:
        return self.project_file


class FakeLocks:
    def __init__(self) -> None:
        self.held: list[str] = []
        self.taken: list[str] = []

    @contextlib.asynccontextmanager
    async def _lock(self, name: str) -> AsyncIterator[None]:
        assert name not in self.held, f"{name} taken twice"
        self.held.append(name)
        self.taken.append(name)
        try:
            yield
        finally:
            self.held.remove(name)

    def deploy(
        self, server_id: str, project_id: str
    ) -> contextlib.AbstractAsyncContextManager[None]:
        return self._lock(f"deploy {server_id} {project_id}")

    def provision(self, server_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._lock(f"provision {server_id}")


class FakeIdempotency:
    def __init__(self) -> None:
        self.done: set[tuple[str, str]] = set()

    async def run_once(
        self, scope: str, request_id: str, effect: Callable[[], Awaitable[None]]
    ) -> object:
        if (scope, request_id) in self.done:
            return None
        await effect()
        self.done.add((scope, request_id))
        return None


class FakeResults:
    def __init__(self) -> None:
        self.kept_json: dict[tuple[str, str], str] = {}

    async def keep(self, scope: str, request_id: str, result: BaseModel) -> None:
        self.kept_json[scope, request_id] = result.model_dump_json()

    async def kept(self, scope: str, request_id: str, result_type: type[M]) -> M | None:
        stored = self.kept_json.get((scope, request_id))
        return None if stored is None else result_type.model_validate_json(stored)
