"""Servers: registered and changed by services; every key may read them."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import ServerCreate, ServerStatus, ServerUpdate
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.pagination import Page
from api.repository import apply_changes, equal_to
from api.servers.models import Server
from api.servers.repository import ServerRepository


async def create_server(session: AsyncSession, principal: Principal, body: ServerCreate) -> Server:
    principal.require_service()
    return await ServerRepository(session).add(Server(**body.model_dump()))


async def list_servers(
    session: AsyncSession, page: Page, *, status: ServerStatus | None, name: str | None
) -> Sequence[Server]:
    where = equal_to((Server.status, status), (Server.name, name))
    return await ServerRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_server(session: AsyncSession, server_id: str, *, for_update: bool = False) -> Server:
    return await ServerRepository(session).find(server_id, for_update=for_update)


async def update_server(
    session: AsyncSession, principal: Principal, server_id: str, body: ServerUpdate
) -> Server:
    principal.require_service()
    server = await get_server(session, server_id, for_update=True)
    apply_changes(server, body.model_dump(exclude_unset=True))
    await session.flush()
    return server
