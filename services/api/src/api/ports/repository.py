from __future__ import annotations

from sqlalchemy import ColumnElement, func, literal_column, select

from api.ports.models import PortAllocation
from api.repository import Repository


class PortAllocationRepository(Repository[PortAllocation]):
    model = PortAllocation

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
        candidates = func.generate_series(first, last).table_valued("value").alias("candidate")
        port: ColumnElement[int] = literal_column("candidate.value")
        taken = select(PortAllocation.port).where(PortAllocation.server_id == server_id)
        query = select(port).select_from(candidates).where(port.not_in(taken)).order_by(port)
        value = (await self.session.execute(query.limit(1))).scalar_one_or_none()
        return int(value) if value is not None else None
