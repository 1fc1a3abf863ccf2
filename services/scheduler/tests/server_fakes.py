"""Small in-memory fakes of the ports provisioning retries and server sync use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel
from scheduler.ports import ApiRefused, LeaseLost, ProviderRefused, ProviderServer
from shared.contracts import (
    IncidentRead,
    IncidentSeverity,
    IncidentStatus,
    ServerCreate,
    ServerRead,
    ServerSpecs,
    ServerStatus,
    ServerUpdate,
)


def server(name: str, **fields: object) -> ServerRead:
    """A server as the API answers it."""
    values: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "name": name,
        "address": "203.0.113.1",
        "ssh_user": "root",
        "ssh_port": 22,
        "ssh_key_ref": None,
        "is_local": False,
        "provider_id": None,
        "specs": ServerSpecs(),
        "status": ServerStatus.ACTIVE,
        "last_health_check_at": None,
        "created_at": datetime.now(UTC),
    }
    return ServerRead.model_validate(values | fields)


@dataclass
class FakeLease:
    fence: int = 1
    lost: bool = False
    checks: int = 0

    def check(self) -> None:
        self.checks += 1
        if self.lost:
            raise LeaseLost("lost")


@dataclass
class FakeApi:
    """The API's servers and incidents (`Servers`, `Incidents`); it keeps one open incident per
    title and server, as the real adapter does. A name in `taken_meanwhile` is refused as if
    someone registered it after the job read the list."""

    known: dict[str, ServerRead] = field(default_factory=dict)
    taken_meanwhile: set[str] = field(default_factory=set)
    incidents: list[IncidentRead] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)

    def add(self, *servers: ServerRead) -> None:
        for one in servers:
            self.known[one.id] = one

    def named(self, name: str) -> ServerRead:
        return next(one for one in self.known.values() if one.name == name)

    async def servers(self, status: ServerStatus | None = None) -> list[ServerRead]:
        return [one for one in self.known.values() if status in (None, one.status)]

    async def server(self, server_id: str) -> ServerRead | None:
        return self.known.get(server_id)

    async def create_server(self, new: ServerCreate) -> ServerRead:
        taken = {one.name for one in self.known.values()} | self.taken_meanwhile
        if new.name in taken:
            raise ApiRefused(f"the API answered 409: server {new.name} exists")
        created = server(**new.model_dump())
        self.known[created.id] = created
        self.writes.append(f"create {new.name}")
        return created

    async def update_server(self, server_id: str, change: ServerUpdate) -> ServerRead:
        changed = self.known[server_id].model_copy(update=change.model_dump(exclude_unset=True))
        self.known[server_id] = changed
        self.writes.append(f"update {changed.name} {sorted(change.model_fields_set)}")
        return changed

    async def open_incidents(self, server_id: str | None = None) -> list[IncidentRead]:
        return [
            incident
            for incident in self.incidents
            if incident.status is IncidentStatus.OPEN
            and (server_id is None or incident.server_id == server_id)
        ]

    async def open_incident(
        self, *, server_id: str | None, severity: IncidentSeverity, title: str, details: str
    ) -> IncidentRead:
        for incident in await self.open_incidents(server_id):
            if incident.title == title:
                return incident
        incident = IncidentRead.model_validate(
            {
                "id": uuid.uuid4().hex,
                "server_id": server_id,
                "severity": severity,
                "status": IncidentStatus.OPEN,
                "title": title,
                "details": details,
                "created_at": datetime.now(UTC),
                "resolved_at": None,
            }
        )
        self.incidents.append(incident)
        self.writes.append(f"incident {title}")
        return incident

    async def resolve_incident(self, incident_id: str, details: str | None = None) -> None:
        raise NotImplementedError


@dataclass
class FakeRetries:
    """Provisioning retries in memory, on a clock the test moves."""

    now: int = 1_000_000
    states: dict[str, tuple[int, int]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)

    async def retry_state(self, server_id: str) -> tuple[int, int] | None:
        return self.states.get(server_id)

    async def record_retry(self, server_id: str, attempts: int, next_at_ms: int) -> None:
        self.states[server_id] = (attempts, next_at_ms)
        self.requests[server_id] = self.requests.get(server_id, 0) + 1

    async def forget(self, server_id: str) -> None:
        self.states.pop(server_id, None)

    async def requests_made(self, server_id: str) -> int:
        return self.requests.get(server_id, 0)

    async def record_answer(self, server_id: str, number: int) -> None:
        self.answers[server_id] = number

    async def answered(self, server_id: str) -> int:
        return self.answers.get(server_id, 0)

    async def now_ms(self) -> int:
        return self.now


@dataclass
class FakePublisher:
    """Keeps what was published; `publish_once` skips a request id already sent to a stream."""

    published: list[tuple[str, BaseModel]] = field(default_factory=list)
    sent: set[tuple[str, str]] = field(default_factory=set)

    async def publish(self, stream: str, message: BaseModel) -> str:
        self.published.append((stream, message))
        return f"{len(self.published)}-0"

    async def publish_once(self, stream: str, message: BaseModel) -> str | None:
        key = (stream, str(getattr(message, "request_id", "")))
        if key in self.sent:
            return None
        self.sent.add(key)
        return await self.publish(stream, message)

    def request_ids(self, stream: str = "provisioner:queue") -> list[str]:
        return [str(getattr(m, "request_id", "")) for name, m in self.published if name == stream]


@dataclass
class FakeProvider:
    listed: list[ProviderServer] = field(default_factory=list)
    refuse: str | None = None

    async def servers(self) -> list[ProviderServer]:
        if self.refuse is not None:
            raise ProviderRefused(self.refuse)
        return list(self.listed)
