"""Server health: every active or unreachable server is asked of infra-service each run
(`infra:health:queue`; its SSH key stays there), and its answers (`infra:health:results`) keep the
server's status, its last check's time and one incident per outage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from pydantic import ValidationError
from shared.contracts import (
    IncidentSeverity,
    ServerHealthCheck,
    ServerHealthResult,
    ServerRead,
    ServerStatus,
    ServerUpdate,
    utc_now,
)
from shared.streams.registry import SERVER_HEALTH_QUEUE

from scheduler.domain import outages
from scheduler.domain.outages import Change, Observation
from scheduler.ports import (
    ApiRefused,
    Incidents,
    Lease,
    ProvisioningRetries,
    Publisher,
    Servers,
    Summary,
)

log = structlog.get_logger("scheduler")

JOB = "server_health"


async def check_servers(
    lease: Lease, *, servers: Servers, publisher: Publisher, retries: ProvisioningRetries
) -> Summary:
    checked = 0
    for server in await servers.servers():
        if server.status not in outages.CHECKED or await _being_set_up(server, retries):
            continue
        try:
            check = ServerHealthCheck(
                request_id=outages.request_id(server.id, lease.fence),
                # The run's own id (its `scheduler:runs` record): its checks trace back to it.
                correlation_id=f"{JOB}.{lease.fence}",
                server_handle=server.id,
            )
        except ValidationError:
            log.warning("a server's id is not a valid handle; not checked", server=server.name)
            continue
        lease.check()
        # A plain publish: a check sent twice is answered twice, and the older answer changes
        # nothing; publish_once would leave a marker per server and run for a week.
        await publisher.publish(SERVER_HEALTH_QUEUE.pattern, check)
        checked += 1
    return {"checked": checked}


async def handle_health_result(
    result: ServerHealthResult,
    *,
    servers: Servers,
    incidents: Incidents,
    retries: ProvisioningRetries,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Incidents change before the server does: a delivery that fails in between is taken again
    and finds the server as it was (an open incident is not opened twice, a resolved one is not
    found again). What the API refuses is dropped: the next check asks again anyway."""
    try:
        server = await servers.server(result.server_id)
        if server is None:
            log.info("a health result of a server the API does not have", server=result.server_id)
            return
        if await _being_set_up(server, retries):
            # Answering is not being set up: provisioning makes it active once its setup ran.
            await servers.update_server(
                server.id, ServerUpdate(last_health_check_at=result.checked_at)
            )
            return
        await _apply(result, server, clock(), servers=servers, incidents=incidents)
    except ApiRefused as exc:
        log.warning(
            "the API refused a health result's change; dropped",
            server_id=result.server_id,
            error=str(exc)[:300],
        )


async def _being_set_up(server: ServerRead, retries: ProvisioningRetries) -> bool:
    """An unreachable server whose setup is being retried belongs to the provisioning job: its
    setup never ran, so answering a login does not make it active."""
    return (
        server.status is ServerStatus.UNREACHABLE
        and await retries.retry_state(server.id) is not None
    )


async def _apply(
    result: ServerHealthResult,
    server: ServerRead,
    now: datetime,
    *,
    servers: Servers,
    incidents: Incidents,
) -> None:
    observed = Observation(result.reachable, result.checked_at, result.error)
    what = outages.change(server.status, server.last_health_check_at, observed, now)
    if what is Change.STALE:
        log.debug("an older health result; nothing changes", server=server.name)
        return
    if what is Change.FROM_THE_FUTURE:
        log.warning(
            "a health result dated in the future (a clock is wrong); nothing changes",
            server=server.name,
            checked_at=result.checked_at.isoformat(),
        )
        return
    title = outages.outage_title(server.name)
    if what is Change.OUTAGE:
        await incidents.open_incident(
            server_id=server.id,
            severity=IncidentSeverity.HIGH,
            title=title,
            details=outages.outage_details(server.name, server.address, observed),
        )
    elif what is Change.RECOVERY:
        for incident in await incidents.open_incidents(server.id):
            if incident.title == title:
                details = outages.recovery_details(incident.details, observed)
                await incidents.resolve_incident(incident.id, details)
    status = outages.new_status(what)
    change = ServerUpdate(last_health_check_at=result.checked_at)
    if status is not None:
        change = ServerUpdate(status=status, last_health_check_at=result.checked_at)
    await servers.update_server(server.id, change)
    if what is Change.OUTAGE:
        log.warning("server unreachable", server=server.name, error=(result.error or "")[:300])
    elif what is Change.RECOVERY:
        log.info("server answers again", server=server.name)
