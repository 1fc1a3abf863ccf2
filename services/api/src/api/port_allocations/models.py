from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, CreatedMixin, IdMixin


class PortAllocation(IdMixin, CreatedMixin, Base):
    __tablename__ = "port_allocations"
    __table_args__ = (
        UniqueConstraint("server_id", "port", name="uq_port_allocations_server_port"),
        UniqueConstraint(
            "server_id", "project_id", "service_name", name="uq_port_allocations_server_service"
        ),
    )

    server_id: Mapped[str] = mapped_column(ForeignKey("servers.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    service_name: Mapped[str] = mapped_column(String(63))
    port: Mapped[int] = mapped_column(Integer)
