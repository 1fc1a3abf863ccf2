"""Who is calling: resolved from the bearer key on every request but /health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from shared.contracts import PrincipalKind

from api.auth.keys import hash_key
from api.auth.repository import ApiKeyRepository
from api.db import SessionDep, utc_now
from api.errors import Forbidden, NotFound, Unauthorized


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    key_id: str
    user_id: str | None
    # None: every right of the principal; a set only narrows them.
    scopes: frozenset[str] | None = None

    @property
    def is_service(self) -> bool:
        return self.kind is PrincipalKind.SERVICE

    def require(self, scope: str) -> None:
        if self.scopes is not None and scope not in self.scopes:
            raise Forbidden(f"this key lacks the scope {scope}", context={"scope": scope})

    def require_service(self) -> None:
        if not self.is_service:
            raise Forbidden("only a service key may do this")

    def check_owner(self, owner_id: str, what: str) -> None:
        """A user sees only their own objects; others' are reported missing, not forbidden."""
        if not self.is_service and owner_id != self.user_id:
            raise NotFound(f"{what} not found")

    def owner_filter(self) -> str | None:
        """The owner a list must be limited to, or None for a service."""
        return None if self.is_service else self.user_id


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


async def authenticate(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("send `Authorization: Bearer <api key>`")
    record = await ApiKeyRepository(session).by_hash(hash_key(credentials.credentials.strip()))
    if record is None or record.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    if record.expires_at is not None and record.expires_at <= utc_now():
        raise Unauthorized("expired API key")
    return Principal(
        kind=record.principal,
        key_id=record.id,
        user_id=record.user_id,
        scopes=None if record.scopes is None else frozenset(record.scopes),
    )


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def requires(scope: str) -> Any:
    """A route's scope, declared in its signature: `Annotated[Principal, requires(TASKS_READ)]`."""

    async def scoped(principal: PrincipalDep) -> Principal:
        principal.require(scope)
        return principal

    return Depends(scoped)
