from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from shared.contracts import ServerCreate, ServerRead, ServerStatus, ServerUpdate
from shared.permissions import SERVERS_READ, SERVERS_WRITE

from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.errors import error_responses
from api.ids import IdPath
from api.pagination import PageDep
from api.servers import service

router = APIRouter(
    prefix="/api/servers", tags=["servers"], responses=error_responses(401, 403, 422, 503)
)

ServersWrite = Annotated[Principal, requires(SERVERS_WRITE)]
ServersRead = Annotated[Principal, requires(SERVERS_READ)]


@router.post("", status_code=201, response_model=ServerRead, responses=error_responses(403, 409))
async def create_server(
    body: ServerCreate, session: SessionDep, principal: ServersWrite
) -> ServerRead:
    """Register a server. Service keys only."""
    return ServerRead.model_validate(await service.create_server(session, principal, body))


@router.get("", response_model=list[ServerRead])
async def list_servers(
    session: SessionDep,
    principal: ServersRead,
    page: PageDep,
    status: ServerStatus | None = None,
    name: Annotated[str | None, Query(max_length=63)] = None,
) -> list[ServerRead]:
    """List servers, by status or by handle."""
    return [
        ServerRead.model_validate(s)
        for s in await service.list_servers(session, page, status=status, name=name)
    ]


@router.get("/{server_id}", response_model=ServerRead, responses=error_responses(404))
async def get_server(server_id: IdPath, session: SessionDep, principal: ServersRead) -> ServerRead:
    """Read a server."""
    return ServerRead.model_validate(await service.get_server(session, server_id))


@router.patch("/{server_id}", response_model=ServerRead, responses=error_responses(403, 404))
async def update_server(
    server_id: IdPath, body: ServerUpdate, session: SessionDep, principal: ServersWrite
) -> ServerRead:
    """Change a server (status, health check time, ...). Service keys only."""
    return ServerRead.model_validate(
        await service.update_server(session, principal, server_id, body)
    )
