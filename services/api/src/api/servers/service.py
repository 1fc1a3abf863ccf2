"""Servers: registered and changed by services; every key may read them."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import ServerCreate, ServerStatus, ServerUpdate
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.errors import NotFound
from api.pagination import Page
from api.servers.models import Server
from api.servers.repository import ServerRepository


async def create_server(session: AsyncSession, principal: Principal, body: ServerCreate) -> Server:
    principal.require_service()
    return await ServerRepository(session).add(Server(**body.model_dump()))


async def list_servers(
    session: AsyncSession, page: Page, *, status: ServerStatus | None
) -> Sequence[Server]:
    where = [Server.status == status] if status is not None else []
    return await ServerRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_server(session: AsyncSession, server_id: str, *, for_update: bool = False) -> Server:
    server = await ServerRepository(session).get(server_id, for_update=for_update)
    if server is None:
        raise NotFound("server not found")
    return server


async def update_server(
    session: AsyncSession, principal: Principal, server_id: str, body: ServerUpdate
) -> Server:
    principal.require_service()
    server = await get_server(session, server_id, for_update=True)
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(server, field, value)
    await session.flush()
    return server
