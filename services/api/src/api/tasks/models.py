from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contracts import TaskStatus, TaskType
from sqlalchemy import DateTime, ForeignKey, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, IdMixin, UpdatedMixin, enum_type


class Task(IdMixin, UpdatedMixin, Base):
    __tablename__ = "tasks"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    # The project's owner, copied at creation (owners never change) so lists filter without joins.
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    type: Mapped[TaskType] = mapped_column(enum_type(TaskType))
    status: Mapped[TaskStatus] = mapped_column(
        enum_type(TaskStatus), default=TaskStatus.QUEUED, index=True
    )
    spec: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
