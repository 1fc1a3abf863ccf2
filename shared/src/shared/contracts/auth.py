"""API keys (REST) and the principals they stand for."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from shared.contracts.base import Identifier, RestModel


class PrincipalKind(StrEnum):
    SERVICE = "service"
    USER = "user"


class ApiKeyCreate(RestModel):
    name: str = Field(min_length=1, max_length=100, description="What the key is for.")
    principal: PrincipalKind = Field(description="A service (full access) or a user (own data).")
    user_id: Identifier | None = Field(
        default=None, description="The user a user-scoped key acts for; required for `user`."
    )
    ttl_seconds: int | None = Field(
        default=None, gt=0, le=366 * 24 * 3600, description="Lifetime; omitted: no expiry."
    )


class ApiKeyRead(RestModel):
    id: Identifier = Field(description="The key's id.")
    name: str = Field(description="What it is for.")
    prefix: str = Field(description="The key's first characters, to recognise it.")
    principal: PrincipalKind = Field(description="Service or user.")
    user_id: Identifier | None = Field(description="The user it acts for.")
    created_at: datetime = Field(description="When it was created.")
    expires_at: datetime | None = Field(description="When it stops working.")
    revoked_at: datetime | None = Field(description="When it was revoked.")


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key; shown only in this response.")
