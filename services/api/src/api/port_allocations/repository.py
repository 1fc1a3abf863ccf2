from __future__ import annotations

from sqlalchemy import select, text

from api.port_allocations.models import PortAllocation
from api.repository import Repository


class PortAllocationRepository(Repository[PortAllocation]):
    model = PortAllocation
    noun = "port allocation"

    async def for_service(
        self, server_id: str, project_id: str, service_name: str
    ) -> PortAllocation | None:
        query = select(PortAllocation).where(
            PortAllocation.server_id == server_id,
            PortAllocation.project_id == project_id,
            PortAllocation.service_name == service_name,
        )
        return (await self.session.scalars(query)).one_or_none()

    async def is_taken(self, server_id: str, port: int) -> bool:
        query = select(PortAllocation.id).where(
            PortAllocation.server_id == server_id, PortAllocation.port == port
        )
        return (await self.session.scalars(query)).first() is not None

    async def lowest_free(self, server_id: str, first: int, last: int) -> int | None:
        query = text(
            "SELECT p FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS p"
            " WHERE NOT EXISTS ("
            " SELECT 1 FROM port_allocations a WHERE a.server_id = :server AND a.port = p"
            ") ORDER BY p LIMIT 1"
        )
        params = {"first": first, "last": last, "server": server_id}
        value = (await self.session.execute(query, params)).scalar_one_or_none()
        return int(value) if value is not None else None
