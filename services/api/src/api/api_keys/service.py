"""Creating, listing and revoking API keys (service principals only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from shared.contracts import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, PrincipalKind
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.keys import display_prefix, generate_key, hash_key
from api.auth.models import ApiKey
from api.auth.principal import Principal
from api.auth.repository import ApiKeyRepository
from api.db import utc_now
from api.errors import InvalidReference
from api.pagination import Page
from api.repository import equal_to
from api.users.repository import UserRepository


async def create_key(session: AsyncSession, body: ApiKeyCreate) -> ApiKeyCreated:
    if body.principal is PrincipalKind.USER:
        if body.user_id is None:
            raise InvalidReference("a user key needs user_id", field="user_id")
        if await UserRepository(session).get(body.user_id) is None:
            raise InvalidReference("no such user", field="user_id")
    elif body.user_id is not None:
        raise InvalidReference("a service key acts for no user", field="user_id")
    scopes = None if body.scopes is None else [str(s) for s in body.scopes]
    key = generate_key(None if scopes is None else tuple(scopes))
    expires_at = utc_now() + timedelta(seconds=body.ttl_seconds) if body.ttl_seconds else None
    record = await ApiKeyRepository(session).add(
        ApiKey(
            name=body.name,
            key_hash=hash_key(key),
            prefix=display_prefix(key),
            principal=body.principal,
            user_id=body.user_id,
            scopes=scopes,
            expires_at=expires_at,
        )
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(record).model_dump(), key=key)


async def list_keys(session: AsyncSession, user_id: str | None, page: Page) -> Sequence[ApiKey]:
    where = equal_to((ApiKey.user_id, user_id))
    return await ApiKeyRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_key(session: AsyncSession, key_id: str) -> ApiKey:
    return await ApiKeyRepository(session).find(key_id)


async def revoke_key(session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
    """Revoking is idempotent: the first revocation time is kept."""
    record = await ApiKeyRepository(session).find(key_id, for_update=True)
    if record.revoked_at is None:
        record.revoked_at = utc_now()
        await session.flush()
    return record
