from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from shared.contracts import PortAllocationCreate, PortAllocationRead
from shared.permissions import PORTS_READ, PORTS_WRITE

from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.errors import error_responses
from api.ids import IdFilter, IdPath
from api.pagination import PageDep
from api.port_allocations import service

router = APIRouter(
    prefix="/api/port-allocations",
    tags=["port-allocations"],
    responses=error_responses(401, 403, 422, 503),
)

PortsWrite = Annotated[Principal, requires(PORTS_WRITE)]
PortsRead = Annotated[Principal, requires(PORTS_READ)]


@router.post(
    "",
    status_code=201,
    response_model=PortAllocationRead,
    responses={
        200: {"model": PortAllocationRead, "description": "The service's existing port"},
        **error_responses(403, 409),
    },
)
async def allocate_port(
    body: PortAllocationCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PortsWrite,
) -> PortAllocationRead:
    """Allocate a port to a project's service on a server (the lowest free one unless given).

    Asking again for the same service returns its existing port (200). Service keys only.
    """
    allocation, created = await service.allocate_port(
        session, principal, body, request.app.state.port_range
    )
    if not created:
        response.status_code = 200
    return PortAllocationRead.model_validate(allocation)


@router.get("", response_model=list[PortAllocationRead])
async def list_port_allocations(
    session: SessionDep,
    principal: PortsRead,
    page: PageDep,
    server_id: IdFilter = None,
    project_id: IdFilter = None,
) -> list[PortAllocationRead]:
    """List allocations, by server and project."""
    allocations = await service.list_allocations(
        session, principal, page, server_id=server_id, project_id=project_id
    )
    return [PortAllocationRead.model_validate(a) for a in allocations]


@router.get("/{allocation_id}", response_model=PortAllocationRead, responses=error_responses(404))
async def get_port_allocation(
    allocation_id: IdPath, session: SessionDep, principal: PortsRead
) -> PortAllocationRead:
    """Read an allocation."""
    allocation = await service.get_allocation(session, principal, allocation_id)
    return PortAllocationRead.model_validate(allocation)


@router.delete("/{allocation_id}", status_code=204, responses=error_responses(403, 404))
async def release_port_allocation(
    allocation_id: IdPath, session: SessionDep, principal: PortsWrite
) -> Response:
    """Release a port. Service keys only."""
    await service.release_port(session, principal, allocation_id)
    return Response(status_code=204)
