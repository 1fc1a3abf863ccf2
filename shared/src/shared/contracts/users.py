"""Users of the system (REST)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.contracts.base import Identifier, RestModel


class UserCreate(RestModel):
    telegram_id: int | None = Field(
        default=None, gt=0, lt=2**63, description="Telegram user id, if any."
    )
    username: str = Field(min_length=1, max_length=100, description="A readable, unique name.")
    is_admin: bool = Field(default=False, description="Admins receive operational alerts.")


class UserUpdate(RestModel):
    telegram_id: int | None = Field(default=None, gt=0, lt=2**63, description="Telegram id.")
    username: str | None = Field(default=None, min_length=1, max_length=100, description="Name.")
    is_admin: bool | None = Field(default=None, description="Admin flag.")


class UserRead(RestModel):
    id: Identifier = Field(description="The user's id.")
    telegram_id: int | None = Field(description="Telegram user id, if any.")
    username: str = Field(description="The user's name.")
    is_admin: bool = Field(description="Admin flag.")
    created_at: datetime = Field(description="When the user was created.")
