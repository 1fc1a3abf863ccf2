from __future__ import annotations

from sqlalchemy import select

from api.auth.models import ApiKey
from api.repository import Repository


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey
    noun = "API key"

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        result = await self.session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash))
        return result.one_or_none()

    async def has_active_service_key(self) -> bool:
        query = select(ApiKey.id).where(ApiKey.principal == "service", ApiKey.revoked_at.is_(None))
        return (await self.session.scalars(query.limit(1))).first() is not None
