"""API keys (REST) and the principals they stand for."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, field_validator

from shared.contracts.base import Identifier, RestModel
from shared.permissions import SCOPES


class PrincipalKind(StrEnum):
    SERVICE = "service"
    USER = "user"


# Built from the vocabulary so the two cannot drift; mypy cannot see members made this way.
Scope = StrEnum(  # type: ignore[misc]
    "Scope", [(s.replace(":", "_").replace("-", "_").upper(), s) for s in SCOPES]
)


class ApiKeyCreate(RestModel):
    name: str = Field(min_length=1, max_length=100, description="What the key is for.")
    principal: PrincipalKind = Field(description="A service (full access) or a user (own data).")
    user_id: Identifier | None = Field(
        default=None, description="The user a user-scoped key acts for; required for `user`."
    )
    ttl_seconds: int | None = Field(
        default=None, gt=0, le=366 * 24 * 3600, description="Lifetime; omitted: no expiry."
    )
    scopes: list[Scope] | None = Field(
        default=None,
        max_length=32,
        description="What the key may do, narrowing its principal's rights (deduplicated, in "
        "vocabulary order); omitted: all of its principal's rights; `[]`: nothing but "
        "`GET /api/auth/me`.",
    )

    @field_validator("scopes")
    @classmethod
    def _in_vocabulary_order(cls, scopes: list[Scope] | None) -> list[Scope] | None:
        if scopes is None:
            return None
        return [Scope(s) for s in SCOPES if s in scopes]


class ApiKeyRead(RestModel):
    id: Identifier = Field(description="The key's id.")
    name: str = Field(description="What it is for.")
    prefix: str = Field(description="The key's first characters, to recognise it.")
    principal: PrincipalKind = Field(description="Service or user.")
    user_id: Identifier | None = Field(description="The user it acts for.")
    scopes: list[str] | None = Field(description="What it may do; null: all its principal may.")
    created_at: datetime = Field(description="When it was created.")
    expires_at: datetime | None = Field(description="When it stops working.")
    revoked_at: datetime | None = Field(description="When it was revoked.")


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key; shown only in this response.")


class WhoAmI(RestModel):
    principal: PrincipalKind = Field(description="Service or user.")
    user_id: Identifier | None = Field(description="The user the key acts for.")
    key_id: Identifier = Field(description="The key's id.")
    scopes: list[str] | None = Field(description="What the key may do; null: all it may.")
