"""Repository sync: every project's repository asked of the forge; one open incident per
repository that vanished, resolved when it is back. Projects are never changed."""

from __future__ import annotations

from collections import Counter

import structlog
from shared.contracts import IncidentRead, IncidentSeverity

from scheduler.domain import repositories
from scheduler.domain.repositories import Action
from scheduler.domain.schedule import describe
from scheduler.ports import Forge, Incidents, Lease, Projects, Summary

log = structlog.get_logger("scheduler")

# checked: asked of the forge; missing: gone (opened: newly told); recovered: back, its incident
# resolved; unknown: the forge could not tell; failed: the check raised; closed: an incident
# resolved because its project is archived or names no repository any more.
SUMMARY = ("checked", "missing", "opened", "recovered", "unknown", "failed", "closed")


async def sync_repositories(
    lease: Lease, *, projects: Projects, forge: Forge, incidents: Incidents
) -> Summary:
    listed = await projects.projects()
    flagged: dict[str, IncidentRead] = {
        incident.title: incident
        for incident in await incidents.open_incidents()
        if incident.server_id is None
    }
    counts = Counter(dict.fromkeys(SUMMARY, 0))
    for project in listed:
        title = repositories.incident_title(project.name)
        incident = flagged.get(title)
        url = project.repository_url
        why_not = repositories.unchecked_because(project)
        if why_not is not None or not url:
            if incident is not None and why_not is not None:
                lease.check()
                await incidents.resolve_incident(
                    incident.id, repositories.resolution(incident.details, why_not)
                )
                counts["closed"] += 1
            continue
        counts["checked"] += 1
        try:
            found = await forge.repository_exists(url)
        except Exception as exc:
            # One project's check failing (a bug, git missing) must not hide the others'.
            log.warning(
                "could not check a repository", project=project.name, error=describe(exc)[:300]
            )
            counts["failed"] += 1
            continue
        if found is None:
            counts["unknown"] += 1
        elif not found:
            counts["missing"] += 1
        todo = repositories.action(found, flagged=incident is not None)
        if todo is Action.OPEN:
            lease.check()
            await incidents.open_incident(
                server_id=None,
                severity=IncidentSeverity.HIGH,
                title=title,
                details=repositories.incident_details(project),
            )
            counts["opened"] += 1
            log.warning(
                "a project's repository is gone",
                project=project.name,
                repository=repositories.shown(url),
            )
        elif todo is Action.RESOLVE and incident is not None:
            lease.check()
            await incidents.resolve_incident(
                incident.id,
                repositories.resolution(incident.details, repositories.recovered(project)),
            )
            counts["recovered"] += 1
            log.info("a project's repository is back", project=project.name)
    return dict(counts)
