"""Incidents: opened and resolved by services; every key may read them."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import IncidentCreate, IncidentStatus, IncidentUpdate
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.db import utc_now
from api.errors import InvalidReference, NotFound
from api.incidents.models import Incident
from api.incidents.repository import IncidentRepository
from api.pagination import Page
from api.repository import apply_changes, equal_to
from api.servers.service import get_server


async def open_incident(
    session: AsyncSession, principal: Principal, body: IncidentCreate
) -> Incident:
    principal.require_service()
    if body.server_id is not None:
        try:
            await get_server(session, body.server_id)
        except NotFound as exc:
            raise InvalidReference("no such server", field="server_id") from exc
    return await IncidentRepository(session).add(Incident(**body.model_dump()))


async def list_incidents(
    session: AsyncSession,
    page: Page,
    *,
    status: IncidentStatus | None,
    server_id: str | None,
) -> Sequence[Incident]:
    where = equal_to((Incident.status, status), (Incident.server_id, server_id))
    return await IncidentRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_incident(
    session: AsyncSession, incident_id: str, *, for_update: bool = False
) -> Incident:
    return await IncidentRepository(session).find(incident_id, for_update=for_update)


async def update_incident(
    session: AsyncSession, principal: Principal, incident_id: str, body: IncidentUpdate
) -> Incident:
    principal.require_service()
    incident = await get_incident(session, incident_id, for_update=True)
    apply_changes(incident, body.model_dump(exclude_unset=True))
    if incident.status is IncidentStatus.RESOLVED and incident.resolved_at is None:
        incident.resolved_at = utc_now()
    await session.flush()
    return incident
