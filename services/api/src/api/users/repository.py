from __future__ import annotations

from sqlalchemy import select

from api.repository import Repository
from api.users.models import User


class UserRepository(Repository[User]):
    model = User
    noun = "user"

    async def by_username(self, username: str) -> User | None:
        result = await self.session.scalars(select(User).where(User.username == username))
        return result.one_or_none()
