"""Users: services manage them; a user's key sees only itself."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import UserCreate, UserUpdate
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.pagination import Page
from api.repository import equal_to
from api.users.models import User
from api.users.repository import UserRepository


async def create_user(session: AsyncSession, principal: Principal, body: UserCreate) -> User:
    principal.require_service()
    return await UserRepository(session).add(User(**body.model_dump()))


async def list_users(
    session: AsyncSession, principal: Principal, telegram_id: int | None, page: Page
) -> Sequence[User]:
    where = equal_to(
        (User.telegram_id, telegram_id),
        (User.id, principal.owner_filter()),
    )
    return await UserRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_user(session: AsyncSession, principal: Principal, user_id: str) -> User:
    user = await UserRepository(session).find(user_id)
    principal.check_owner(user.id, "user")
    return user


async def update_user(
    session: AsyncSession, principal: Principal, user_id: str, body: UserUpdate
) -> User:
    principal.require_service()
    user = await get_user(session, principal, user_id)
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    await session.flush()
    return user
