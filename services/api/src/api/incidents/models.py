from __future__ import annotations

from datetime import datetime

from shared.contracts import IncidentSeverity, IncidentStatus
from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, CreatedMixin, IdMixin, enum_type


class Incident(IdMixin, CreatedMixin, Base):
    __tablename__ = "incidents"

    server_id: Mapped[str | None] = mapped_column(ForeignKey("servers.id"), index=True)
    severity: Mapped[IncidentSeverity] = mapped_column(enum_type(IncidentSeverity))
    status: Mapped[IncidentStatus] = mapped_column(
        enum_type(IncidentStatus), default=IncidentStatus.OPEN, index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    details: Mapped[str] = mapped_column(Text, default="")
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
