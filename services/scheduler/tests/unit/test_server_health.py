"""Server health with small fakes: which servers are checked, and what a check's result does to a
server's status and its one outage incident."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel
from scheduler.domain import outages
from scheduler.domain.outages import Change, Observation
from scheduler.handlers.server_health import check_servers, handle_health_result
from scheduler.ports import ApiRefused, LeaseLost
from server_fakes import FakeRetries
from shared.contracts import (
    IncidentRead,
    IncidentSeverity,
    IncidentStatus,
    ServerCreate,
    ServerHealthCheck,
    ServerHealthResult,
    ServerRead,
    ServerStatus,
    ServerUpdate,
)

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
QUEUE = "infra:health:queue"


def server(name: str = "web-1", **fields: object) -> ServerRead:
    values: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "name": name,
        "address": "203.0.113.9",
        "ssh_user": "root",
        "ssh_port": 22,
        "ssh_key_ref": None,
        "is_local": False,
        "provider_id": None,
        "specs": {},
        "status": ServerStatus.ACTIVE,
        "last_health_check_at": None,
        "created_at": NOON - timedelta(days=1),
    }
    return ServerRead.model_validate(values | fields)


def result(
    of: ServerRead, reachable: bool, at: datetime, error: str | None = None
) -> ServerHealthResult:
    return ServerHealthResult(server_id=of.id, reachable=reachable, checked_at=at, error=error)


@dataclass
class FakeLease:
    fence: int = 7
    lost_after: int | None = None
    checks: int = 0

    def check(self) -> None:
        if self.lost_after is not None and self.checks >= self.lost_after:
            raise LeaseLost("lost")
        self.checks += 1


@dataclass
class FakePublisher:
    published: list[tuple[str, BaseModel]] = field(default_factory=list)

    async def publish(self, stream: str, message: BaseModel) -> str:
        self.published.append((stream, message))
        return f"{len(self.published)}-0"

    async def publish_once(self, stream: str, message: BaseModel) -> str | None:
        if any(
            getattr(m, "request_id", None) == getattr(message, "request_id", "")
            for _, m in self.published
        ):
            return None
        return await self.publish(stream, message)

    def checks(self) -> list[ServerHealthCheck]:
        return [m for s, m in self.published if s == QUEUE and isinstance(m, ServerHealthCheck)]


@dataclass
class FakeApi:
    """Servers and incidents as the API keeps them; one unresolved incident per title and server,
    as the real adapter does. `fail_updates` makes that many server updates fail (a 5xx)."""

    known: dict[str, ServerRead] = field(default_factory=dict)
    incidents: list[IncidentRead] = field(default_factory=list)
    fail_updates: int = 0
    refuse: bool = False

    def add(self, *servers: ServerRead) -> None:
        for one in servers:
            self.known[one.id] = one

    async def servers(self, status: ServerStatus | None = None) -> list[ServerRead]:
        return [one for one in self.known.values() if status in (None, one.status)]

    async def server(self, server_id: str) -> ServerRead | None:
        return self.known.get(server_id)

    async def create_server(self, new: ServerCreate) -> ServerRead:
        raise AssertionError("health checks register no server")

    async def update_server(self, server_id: str, change: ServerUpdate) -> ServerRead:
        if self.refuse:
            raise ApiRefused("the API answered 404")
        if self.fail_updates:
            self.fail_updates -= 1
            raise ConnectionError("the API is away")
        updated = self.known[server_id].model_copy(update=change.model_dump(exclude_unset=True))
        self.known[server_id] = updated
        return updated

    async def open_incidents(self, server_id: str | None = None) -> list[IncidentRead]:
        return [
            one
            for one in self.incidents
            if one.status is not IncidentStatus.RESOLVED and server_id in (None, one.server_id)
        ]

    async def open_incident(
        self, *, server_id: str | None, severity: IncidentSeverity, title: str, details: str
    ) -> IncidentRead:
        for one in await self.open_incidents(server_id):
            if one.title == title:
                return one
        incident = IncidentRead(
            id=uuid.uuid4().hex,
            server_id=server_id,
            severity=severity,
            status=IncidentStatus.OPEN,
            title=title,
            details=details,
            created_at=NOON,
            resolved_at=None,
        )
        self.incidents.append(incident)
        return incident

    async def resolve_incident(self, incident_id: str, details: str | None = None) -> None:
        self.incidents = [
            one.model_copy(
                update={"status": IncidentStatus.RESOLVED, "details": details or one.details}
            )
            if one.id == incident_id
            else one
            for one in self.incidents
        ]

    def of(self, one: ServerRead) -> list[IncidentRead]:
        return [incident for incident in self.incidents if incident.server_id == one.id]


async def answer(
    api: FakeApi, message: ServerHealthResult, retries: FakeRetries | None = None
) -> None:
    await handle_health_result(
        message,
        servers=api,
        incidents=api,
        retries=retries or FakeRetries(),
        clock=lambda: NOON + HOUR,
    )


# The rules.


def test_an_active_server_that_did_not_answer_is_an_outage() -> None:
    assert (
        outages.change(ServerStatus.ACTIVE, None, Observation(False, NOON), NOON) is Change.OUTAGE
    )


def test_an_unreachable_server_that_answers_is_a_recovery() -> None:
    observed = Observation(True, NOON)
    assert outages.change(ServerStatus.UNREACHABLE, None, observed, NOON) is Change.RECOVERY


@pytest.mark.parametrize(
    ("status", "reachable"),
    [
        (ServerStatus.ACTIVE, True),
        (ServerStatus.UNREACHABLE, False),
        (ServerStatus.NEW, False),
        (ServerStatus.PENDING_SETUP, False),
        (ServerStatus.MAINTENANCE, False),
        (ServerStatus.MAINTENANCE, True),
    ],
)
def test_otherwise_only_the_checks_time_is_recorded(status: ServerStatus, reachable: bool) -> None:
    assert outages.change(status, None, Observation(reachable, NOON), NOON) is Change.RECORD


@pytest.mark.parametrize("checked_at", [NOON - timedelta(seconds=1), NOON])
def test_a_result_no_newer_than_the_last_check_changes_nothing(checked_at: datetime) -> None:
    observed = Observation(False, checked_at)
    assert outages.change(ServerStatus.ACTIVE, NOON, observed, NOON) is Change.STALE


def test_a_last_check_time_without_a_zone_is_read_as_utc() -> None:
    naive_noon = NOON.replace(tzinfo=None)
    later = Observation(False, NOON + timedelta(seconds=1))
    assert outages.change(ServerStatus.ACTIVE, naive_noon, later, NOON) is Change.OUTAGE


def test_a_result_dated_well_after_now_changes_nothing() -> None:
    slightly_ahead = Observation(False, NOON + timedelta(minutes=1))
    far_ahead = Observation(False, NOON + timedelta(hours=1))

    assert outages.change(ServerStatus.ACTIVE, None, slightly_ahead, NOON) is Change.OUTAGE
    assert outages.change(ServerStatus.ACTIVE, None, far_ahead, NOON) is Change.FROM_THE_FUTURE


def test_an_outage_makes_a_server_unreachable_and_a_recovery_active_again() -> None:
    assert outages.new_status(Change.OUTAGE) is ServerStatus.UNREACHABLE
    assert outages.new_status(Change.RECOVERY) is ServerStatus.ACTIVE
    assert outages.new_status(Change.RECORD) is None


def test_a_recovery_adds_one_line_saying_when_the_server_came_back() -> None:
    details = outages.recovery_details("It did not answer.\n", Observation(True, NOON))
    back = "Back at 2026-05-01 12:00:00 UTC: the server answered a health check."
    assert details == "It did not answer.\n" + back


def test_each_run_asks_about_each_server_once() -> None:
    assert outages.request_id("abc", 7) == "health.abc.7"
    assert outages.request_id("abc", 8) != outages.request_id("abc", 7)


# The job.


async def test_every_active_or_unreachable_server_is_checked_once_per_run() -> None:
    api, publisher, lease = FakeApi(), FakePublisher(), FakeLease(fence=7)
    up, down = server("up"), server("down", status=ServerStatus.UNREACHABLE)
    api.add(up, down, server("fresh", status=ServerStatus.NEW))
    api.add(server("setting-up", status=ServerStatus.PENDING_SETUP))
    api.add(server("resting", status=ServerStatus.MAINTENANCE))

    summary = await check_servers(lease, servers=api, publisher=publisher, retries=FakeRetries())

    assert summary == {"checked": 2}
    checks = publisher.checks()
    assert [(c.server_handle, c.request_id) for c in checks] == [
        (up.id, f"health.{up.id}.7"),
        (down.id, f"health.{down.id}.7"),
    ]
    assert {c.correlation_id for c in checks} == {"server_health.7"}
    assert lease.checks == 2


async def test_a_server_whose_setup_is_being_retried_is_left_to_provisioning() -> None:
    api, publisher, retries = FakeApi(), FakePublisher(), FakeRetries()
    never_set_up = server("new-box", status=ServerStatus.UNREACHABLE)
    api.add(never_set_up, server("up"))
    retries.states[never_set_up.id] = (2, 0)

    summary = await check_servers(FakeLease(), servers=api, publisher=publisher, retries=retries)

    assert summary == {"checked": 1}
    assert never_set_up.id not in {check.server_handle for check in publisher.checks()}


async def test_a_server_whose_setup_is_being_retried_is_not_made_active_by_answering() -> None:
    api, retries = FakeApi(), FakeRetries()
    never_set_up = server("new-box", status=ServerStatus.UNREACHABLE)
    api.add(never_set_up)
    retries.states[never_set_up.id] = (2, 0)

    await answer(api, result(never_set_up, reachable=True, at=NOON), retries)

    assert api.known[never_set_up.id].status is ServerStatus.UNREACHABLE
    assert api.known[never_set_up.id].last_health_check_at is not None
    assert api.incidents == []


async def test_a_run_that_lost_its_lease_asks_nothing_more() -> None:
    api, publisher = FakeApi(), FakePublisher()
    api.add(server("one"), server("two"), server("three"))

    with pytest.raises(LeaseLost):
        await check_servers(
            FakeLease(lost_after=1), servers=api, publisher=publisher, retries=FakeRetries()
        )

    assert len(publisher.checks()) == 1


# The results.


async def test_an_active_server_that_did_not_answer_becomes_unreachable_with_one_incident() -> None:
    api = FakeApi()
    web = server("web-1")
    api.add(web)

    await answer(api, result(web, False, NOON, "ssh: connect to host 203.0.113.9: refused"))

    assert api.known[web.id].status is ServerStatus.UNREACHABLE
    assert api.known[web.id].last_health_check_at == NOON
    [incident] = api.of(web)
    assert incident.title == "Server web-1 is unreachable"
    assert incident.severity is IncidentSeverity.HIGH
    assert "203.0.113.9" in incident.details
    assert "refused" in incident.details


async def test_a_server_that_stays_silent_keeps_its_one_incident() -> None:
    api = FakeApi()
    web = server("web-1")
    api.add(web)

    for seconds in range(5):
        await answer(api, result(web, False, NOON + timedelta(seconds=seconds)))

    assert len(api.of(web)) == 1
    assert api.known[web.id].last_health_check_at == NOON + timedelta(seconds=4)


async def test_an_unreachable_server_that_answers_is_active_again_its_incident_resolved() -> None:
    api = FakeApi()
    web = server("web-1")
    api.add(web)
    await answer(api, result(web, False, NOON))
    other = await api.open_incident(
        server_id=web.id, severity=IncidentSeverity.LOW, title="Disk nearly full", details=""
    )

    await answer(api, result(web, True, NOON + timedelta(minutes=3)))

    assert api.known[web.id].status is ServerStatus.ACTIVE
    outage = next(one for one in api.of(web) if one.title == "Server web-1 is unreachable")
    assert outage.status is IncidentStatus.RESOLVED
    assert outage.details.endswith(
        "Back at 2026-05-01 12:03:00 UTC: the server answered a health check."
    )
    assert await api.open_incidents(web.id) == [other]


async def test_an_outage_a_person_acknowledged_is_resolved_when_the_server_answers() -> None:
    api = FakeApi()
    web = server("web-1")
    api.add(web)
    await answer(api, result(web, False, NOON))
    [outage] = api.of(web)
    api.incidents = [outage.model_copy(update={"status": IncidentStatus.ACKNOWLEDGED})]

    await answer(api, result(web, False, NOON + timedelta(minutes=1)))
    await answer(api, result(web, True, NOON + timedelta(minutes=2)))

    assert [one.status for one in api.of(web)] == [IncidentStatus.RESOLVED]


async def test_the_next_outage_is_an_incident_of_its_own() -> None:
    api = FakeApi()
    web = server("web-1")
    api.add(web)

    for minute, reachable in enumerate([False, True, False]):
        await answer(api, result(web, reachable, NOON + timedelta(minutes=minute)))

    assert [one.status for one in api.of(web)] == [IncidentStatus.RESOLVED, IncidentStatus.OPEN]


async def test_a_result_older_than_the_last_check_changes_nothing() -> None:
    api = FakeApi()
    web = server("web-1", last_health_check_at=NOON)
    api.add(web)

    await answer(api, result(web, False, NOON - timedelta(minutes=1)))
    await answer(api, result(web, False, NOON))

    assert api.known[web.id] == web
    assert api.incidents == []


@pytest.mark.parametrize(
    "status", [ServerStatus.NEW, ServerStatus.PENDING_SETUP, ServerStatus.MAINTENANCE]
)
async def test_a_server_being_set_up_or_kept_only_gets_its_check_time(status: ServerStatus) -> None:
    api = FakeApi()
    web = server("web-1", status=status)
    api.add(web)

    await answer(api, result(web, False, NOON))

    assert api.known[web.id].status is status
    assert api.known[web.id].last_health_check_at == NOON
    assert api.incidents == []


async def test_a_result_dated_in_the_future_changes_nothing() -> None:
    api = FakeApi()
    web = server("web-1")
    api.add(web)

    await answer(api, result(web, False, NOON + 2 * HOUR))

    assert api.known[web.id] == web
    assert api.incidents == []


async def test_a_result_of_a_server_the_api_does_not_have_changes_nothing() -> None:
    api = FakeApi()

    await answer(api, result(server("gone"), False, NOON))

    assert api.incidents == []


async def test_what_the_api_refuses_is_dropped() -> None:
    api = FakeApi(refuse=True)
    web = server("web-1")
    api.add(web)

    await answer(api, result(web, True, NOON))

    assert api.known[web.id] == web


async def test_a_delivery_that_failed_after_the_incident_opens_no_second_one_when_taken_again() -> (
    None
):
    api = FakeApi(fail_updates=1)
    web = server("web-1")
    api.add(web)
    silent = result(web, False, NOON)

    with pytest.raises(ConnectionError):
        await answer(api, silent)
    await answer(api, silent)

    assert api.known[web.id].status is ServerStatus.UNREACHABLE
    assert len(api.of(web)) == 1
