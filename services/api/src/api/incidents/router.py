from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from shared.contracts import IncidentCreate, IncidentRead, IncidentStatus, IncidentUpdate
from shared.permissions import INCIDENTS_READ, INCIDENTS_WRITE

from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.errors import error_responses
from api.ids import IdFilter, IdPath
from api.incidents import service
from api.pagination import PageDep

router = APIRouter(
    prefix="/api/incidents", tags=["incidents"], responses=error_responses(401, 403, 422, 503)
)

IncidentsWrite = Annotated[Principal, requires(INCIDENTS_WRITE)]
IncidentsRead = Annotated[Principal, requires(INCIDENTS_READ)]


@router.post("", status_code=201, response_model=IncidentRead, responses=error_responses(403))
async def open_incident(
    body: IncidentCreate, session: SessionDep, principal: IncidentsWrite
) -> IncidentRead:
    """Open an incident. Service keys only."""
    return IncidentRead.model_validate(await service.open_incident(session, principal, body))


@router.get("", response_model=list[IncidentRead])
async def list_incidents(
    session: SessionDep,
    principal: IncidentsRead,
    page: PageDep,
    status: IncidentStatus | None = None,
    server_id: IdFilter = None,
) -> list[IncidentRead]:
    """List incidents, by status and server."""
    incidents = await service.list_incidents(session, page, status=status, server_id=server_id)
    return [IncidentRead.model_validate(i) for i in incidents]


@router.get("/{incident_id}", response_model=IncidentRead, responses=error_responses(404))
async def get_incident(
    incident_id: IdPath, session: SessionDep, principal: IncidentsRead
) -> IncidentRead:
    """Read an incident."""
    return IncidentRead.model_validate(await service.get_incident(session, incident_id))


@router.patch("/{incident_id}", response_model=IncidentRead, responses=error_responses(403, 404))
async def update_incident(
    incident_id: IdPath, body: IncidentUpdate, session: SessionDep, principal: IncidentsWrite
) -> IncidentRead:
    """Acknowledge or resolve an incident. Service keys only."""
    incident = await service.update_incident(session, principal, incident_id, body)
    return IncidentRead.model_validate(incident)
