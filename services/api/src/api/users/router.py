from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from shared.contracts import UserCreate, UserRead, UserUpdate
from shared.permissions import USERS_READ, USERS_WRITE

from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.errors import error_responses
from api.ids import IdPath
from api.pagination import PageDep
from api.users import service

router = APIRouter(
    prefix="/api/users", tags=["users"], responses=error_responses(401, 403, 422, 503)
)

UsersWrite = Annotated[Principal, requires(USERS_WRITE)]
UsersRead = Annotated[Principal, requires(USERS_READ)]


@router.post("", status_code=201, response_model=UserRead, responses=error_responses(403, 409))
async def create_user(body: UserCreate, session: SessionDep, principal: UsersWrite) -> UserRead:
    """Register a user. Service keys only."""
    return UserRead.model_validate(await service.create_user(session, principal, body))


@router.get("", response_model=list[UserRead])
async def list_users(
    session: SessionDep,
    principal: UsersRead,
    page: PageDep,
    telegram_id: Annotated[int | None, Query(gt=0, lt=2**63)] = None,
) -> list[UserRead]:
    """List users (a user's key sees only itself)."""
    users = await service.list_users(session, principal, telegram_id, page)
    return [UserRead.model_validate(u) for u in users]


@router.get("/{user_id}", response_model=UserRead, responses=error_responses(404))
async def get_user(user_id: IdPath, session: SessionDep, principal: UsersRead) -> UserRead:
    """Read a user."""
    return UserRead.model_validate(await service.get_user(session, principal, user_id))


@router.patch("/{user_id}", response_model=UserRead, responses=error_responses(403, 404, 409))
async def update_user(
    user_id: IdPath, body: UserUpdate, session: SessionDep, principal: UsersWrite
) -> UserRead:
    """Change a user. Service keys only."""
    return UserRead.model_validate(await service.update_user(session, principal, user_id, body))
