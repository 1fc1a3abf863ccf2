"""What every resource's repository shares: get, add, and paged listing with filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from api.db import Base
from api.errors import NotFound

M = TypeVar("M", bound=Base)


class Repository(Generic[M]):
    model: type[M]
    noun: str

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, id_: str, *, for_update: bool = False) -> M | None:
        return await self.session.get(self.model, id_, with_for_update=for_update)

    async def find(self, id_: str, *, for_update: bool = False) -> M:
        """The object, or NotFound naming what was looked for."""
        obj = await self.get(id_, for_update=for_update)
        if obj is None:
            raise NotFound(f"{self.noun} not found")
        return obj

    async def add(self, obj: M) -> M:
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def list(
        self,
        *where: ColumnElement[bool],
        limit: int,
        offset: int,
        statement: Select[Any] | None = None,
    ) -> Sequence[M]:
        query = statement if statement is not None else select(self.model)
        query = query.where(*where).order_by(self.model.created_at, self.model.id)  # type: ignore[attr-defined]
        result = await self.session.scalars(query.limit(limit).offset(offset))
        rows: Sequence[M] = result.all()
        return rows


def equal_to(*pairs: tuple[Any, object]) -> list[ColumnElement[bool]]:
    """Conditions `column == value` for the filters that were given (value not None)."""
    return [column == value for column, value in pairs if value is not None]


def apply_changes(target: object, changes: dict[str, Any]) -> None:
    """Set the fields a PATCH body gave; an explicit null leaves a field as it is."""
    for field, value in changes.items():
        if value is not None:
            setattr(target, field, value)
