"""Repository sync with fakes: one incident per vanished repository, resolved when it is back;
a forge that cannot tell or a check that fails changes nothing; nothing is written once the
lease is lost; projects are only ever read."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from scheduler.handlers.repository_sync import sync_repositories
from scheduler.ports import LeaseLost
from shared.contracts import (
    IncidentRead,
    IncidentSeverity,
    IncidentStatus,
    ProjectRead,
    ProjectStatus,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
_ids = itertools.count(1)


def project(name: str, url: str | None = None, **fields: Any) -> ProjectRead:
    values: dict[str, Any] = {
        "id": f"{next(_ids):032x}",
        "name": name,
        "description": "",
        "status": ProjectStatus.SCAFFOLDED if url else ProjectStatus.DRAFT,
        "modules": ["backend"],
        "repository_url": url,
        "owner_id": "b" * 32,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return ProjectRead(**(values | fields))


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
class FakeProjects:
    listed: list[ProjectRead] = field(default_factory=list)

    async def projects(self) -> list[ProjectRead]:
        return list(self.listed)


@dataclass
class FakeForge:
    """Answers by URL (True when not told otherwise); an exception in `answers` is raised."""

    answers: dict[str, bool | Exception | None] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def repository_exists(self, repository: str) -> bool | None:
        self.asked.append(repository)
        answer = self.answers.get(repository, True)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class FakeIncidents:
    """Incidents as the API adapter keeps them: opening one whose title is open answers it."""

    incidents: list[IncidentRead] = field(default_factory=list)

    async def open_incidents(self, server_id: str | None = None) -> list[IncidentRead]:
        return [
            i
            for i in self.incidents
            if i.status is IncidentStatus.OPEN and (server_id is None or i.server_id == server_id)
        ]

    async def open_incident(
        self, *, server_id: str | None, severity: IncidentSeverity, title: str, details: str
    ) -> IncidentRead:
        for incident in await self.open_incidents(server_id):
            if incident.title == title and incident.server_id == server_id:
                return incident
        incident = IncidentRead(
            id=f"{next(_ids):032x}",
            server_id=server_id,
            severity=severity,
            status=IncidentStatus.OPEN,
            title=title,
            details=details,
            created_at=NOW,
            resolved_at=None,
        )
        self.incidents.append(incident)
        return incident

    async def resolve_incident(self, incident_id: str, details: str | None = None) -> None:
        for n, incident in enumerate(self.incidents):
            if incident.id == incident_id:
                change: dict[str, Any] = {"status": IncidentStatus.RESOLVED, "resolved_at": NOW}
                if details is not None:
                    change["details"] = details
                self.incidents[n] = incident.model_copy(update=change)

    def titled(self, title: str) -> list[IncidentRead]:
        return [i for i in self.incidents if i.title == title]


@dataclass
class World:
    projects: FakeProjects = field(default_factory=FakeProjects)
    forge: FakeForge = field(default_factory=FakeForge)
    incidents: FakeIncidents = field(default_factory=FakeIncidents)
    lease: FakeLease = field(default_factory=FakeLease)

    async def sync(self) -> dict[str, int | str]:
        summary = await sync_repositories(
            self.lease, projects=self.projects, forge=self.forge, incidents=self.incidents
        )
        return dict(summary)


SHOP = "Repository of project shop is gone"


@pytest.fixture
def world() -> World:
    return World()


async def test_a_repository_that_is_gone_opens_one_high_incident_naming_it(world: World) -> None:
    world.projects.listed = [project("shop", "/forge/shop.git"), project("blog", "/forge/blog")]
    world.forge.answers["/forge/shop.git"] = False

    summary = await world.sync()

    [incident] = world.incidents.incidents
    assert incident.title == SHOP
    assert incident.severity is IncidentSeverity.HIGH
    assert incident.server_id is None
    assert "/forge/shop.git" in incident.details
    assert summary == {
        "checked": 2,
        "missing": 1,
        "opened": 1,
        "recovered": 0,
        "unknown": 0,
        "failed": 0,
        "closed": 0,
    }


async def test_a_repository_still_gone_at_later_runs_stays_one_incident(world: World) -> None:
    world.projects.listed = [project("shop", "/forge/shop.git")]
    world.forge.answers["/forge/shop.git"] = False

    await world.sync()
    later = [await world.sync() for _ in range(3)]

    assert len(world.incidents.titled(SHOP)) == 1
    assert [run["opened"] for run in later] == [0, 0, 0]
    assert [run["missing"] for run in later] == [1, 1, 1]


async def test_a_repository_that_is_back_resolves_its_incident_keeping_what_it_said(
    world: World,
) -> None:
    world.projects.listed = [project("shop", "/forge/shop.git")]
    world.forge.answers["/forge/shop.git"] = False
    await world.sync()
    opened = world.incidents.titled(SHOP)[0]

    world.forge.answers["/forge/shop.git"] = True
    summary = await world.sync()

    [resolved] = world.incidents.titled(SHOP)
    assert resolved.status is IncidentStatus.RESOLVED
    assert resolved.details.startswith(opened.details)
    assert "there again" in resolved.details
    assert summary["recovered"] == 1
    assert (await world.sync())["recovered"] == 0


async def test_a_repository_gone_again_after_it_came_back_opens_a_new_incident(
    world: World,
) -> None:
    world.projects.listed = [project("shop", "/forge/shop.git")]
    for found in (False, True, False):
        world.forge.answers["/forge/shop.git"] = found
        await world.sync()

    assert [i.status for i in world.incidents.titled(SHOP)] == [
        IncidentStatus.RESOLVED,
        IncidentStatus.OPEN,
    ]


async def test_a_forge_that_cannot_tell_neither_opens_nor_resolves(world: World) -> None:
    world.projects.listed = [project("shop", "/forge/shop.git"), project("blog", "/forge/blog")]
    world.forge.answers["/forge/blog"] = False
    await world.sync()
    world.forge.answers = {"/forge/shop.git": None, "/forge/blog": None}

    summary = await world.sync()

    assert [i.title for i in world.incidents.incidents] == ["Repository of project blog is gone"]
    assert world.incidents.incidents[0].status is IncidentStatus.OPEN
    assert summary["unknown"] == 2
    assert summary["missing"] == 0


async def test_a_check_that_fails_is_counted_and_the_others_still_checked(world: World) -> None:
    world.projects.listed = [
        project("broken", "/forge/broken.git"),
        project("shop", "/forge/shop.git"),
    ]
    world.forge.answers = {"/forge/broken.git": OSError("no git"), "/forge/shop.git": False}

    summary = await world.sync()

    assert world.forge.asked == ["/forge/broken.git", "/forge/shop.git"]
    assert [i.title for i in world.incidents.incidents] == [SHOP]
    assert summary["failed"] == 1
    assert summary["checked"] == 2


async def test_projects_without_a_repository_are_not_checked(world: World) -> None:
    world.projects.listed = [project("idea"), project("empty", "")]

    summary = await world.sync()

    assert world.forge.asked == []
    assert world.incidents.incidents == []
    assert summary["checked"] == 0


async def test_an_archived_project_is_not_checked_and_its_incident_is_closed(
    world: World,
) -> None:
    shop = project("shop", "/forge/shop.git")
    world.projects.listed = [shop]
    world.forge.answers["/forge/shop.git"] = False
    await world.sync()

    world.projects.listed = [shop.model_copy(update={"status": ProjectStatus.ARCHIVED})]
    world.forge.asked.clear()
    summary = await world.sync()

    assert world.forge.asked == []
    [closed] = world.incidents.titled(SHOP)
    assert closed.status is IncidentStatus.RESOLVED
    assert "archived" in closed.details
    assert summary["closed"] == 1


async def test_other_incidents_are_left_alone(world: World) -> None:
    world.projects.listed = [project("shop", "/forge/shop.git")]
    server_incident = await world.incidents.open_incident(
        server_id="c" * 32, severity=IncidentSeverity.HIGH, title=SHOP, details="a server's"
    )
    dead_letters = await world.incidents.open_incident(
        server_id=None, severity=IncidentSeverity.MEDIUM, title="New dead letters", details=""
    )

    await world.sync()

    assert world.incidents.incidents == [server_incident, dead_letters]


async def test_nothing_is_written_once_the_lease_is_lost(world: World) -> None:
    world.projects.listed = [project("shop", "/forge/shop.git")]
    world.forge.answers["/forge/shop.git"] = False
    world.lease.lost = True

    with pytest.raises(LeaseLost):
        await world.sync()

    assert world.incidents.incidents == []


async def test_the_lease_is_checked_before_each_write(world: World) -> None:
    world.projects.listed = [
        project("shop", "/forge/shop.git"),
        project("blog", "/forge/blog.git"),
        project("wiki", "/forge/wiki.git"),
    ]
    world.forge.answers = {"/forge/shop.git": False, "/forge/blog.git": False}

    await world.sync()

    assert world.lease.checks == 2
