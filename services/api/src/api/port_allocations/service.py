"""Port allocations: a port is given out at most once per server.

Allocation locks the server's row, so concurrent requests for one server queue up and each sees
the ports the previous ones took; the unique constraint (server, port) backs it up.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import PortAllocationCreate
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.errors import Conflict, InvalidReference, NotFound
from api.pagination import Page
from api.port_allocations.models import PortAllocation
from api.port_allocations.repository import PortAllocationRepository
from api.projects.service import get_project
from api.repository import equal_to
from api.servers.service import get_server


async def allocate_port(
    session: AsyncSession,
    principal: Principal,
    body: PortAllocationCreate,
    port_range: tuple[int, int],
) -> tuple[PortAllocation, bool]:
    """Returns the allocation and whether it is new (False: the service already had one)."""
    principal.require_service()
    try:
        project = await get_project(session, principal, body.project_id)
    except NotFound as exc:
        raise InvalidReference("no such project", field="project_id") from exc
    try:
        server = await get_server(session, body.server_id, for_update=True)
    except NotFound as exc:
        raise InvalidReference("no such server", field="server_id") from exc
    allocations = PortAllocationRepository(session)
    existing = await allocations.for_service(server.id, project.id, body.service_name)
    if existing is not None:
        if body.port is not None and body.port != existing.port:
            raise Conflict(f"the service already has port {existing.port}", field="port")
        return existing, False
    port = body.port
    if port is None:
        port = await allocations.lowest_free(server.id, *port_range)
        if port is None:
            raise Conflict("no free port left on this server", field="server_id")
    elif await allocations.is_taken(server.id, port):
        raise Conflict(f"port {port} is taken on this server", field="port")
    allocation = PortAllocation(
        server_id=server.id,
        project_id=project.id,
        owner_id=project.owner_id,
        service_name=body.service_name,
        port=port,
    )
    return await allocations.add(allocation), True


async def list_allocations(
    session: AsyncSession,
    principal: Principal,
    page: Page,
    *,
    server_id: str | None,
    project_id: str | None,
) -> Sequence[PortAllocation]:
    where = equal_to(
        (PortAllocation.server_id, server_id),
        (PortAllocation.project_id, project_id),
        (PortAllocation.owner_id, principal.owner_filter()),
    )
    return await PortAllocationRepository(session).list(
        *where, limit=page.limit, offset=page.offset
    )


async def get_allocation(
    session: AsyncSession, principal: Principal, allocation_id: str
) -> PortAllocation:
    allocation = await PortAllocationRepository(session).find(allocation_id)
    principal.check_owner(allocation.owner_id, "port allocation")
    return allocation


async def release_port(session: AsyncSession, principal: Principal, allocation_id: str) -> None:
    principal.require_service()
    allocation = await get_allocation(session, principal, allocation_id)
    await session.delete(allocation)
    await session.flush()
