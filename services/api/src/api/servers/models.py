from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contracts import ServerStatus
from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, CreatedMixin, IdMixin, enum_type


class Server(IdMixin, CreatedMixin, Base):
    __tablename__ = "servers"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    address: Mapped[str] = mapped_column(String(255))
    ssh_user: Mapped[str] = mapped_column(String(64), default="root")
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_key_ref: Mapped[str | None] = mapped_column(String(255))
    is_local: Mapped[bool] = mapped_column(Boolean, default=False)
    provider_id: Mapped[str | None] = mapped_column(String(255))
    specs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[ServerStatus] = mapped_column(
        enum_type(ServerStatus), default=ServerStatus.NEW, index=True
    )
    last_health_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
