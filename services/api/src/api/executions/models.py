from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contracts import OutcomeStatus
from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, CreatedMixin, IdMixin, enum_type, utc_now


class TaskExecution(IdMixin, CreatedMixin, Base):
    __tablename__ = "task_executions"

    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    worker_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[OutcomeStatus | None] = mapped_column(enum_type(OutcomeStatus))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
