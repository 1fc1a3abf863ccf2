from __future__ import annotations

from shared.contracts import DeploymentStatus
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, IdMixin, UpdatedMixin, enum_type


class ServiceDeployment(IdMixin, UpdatedMixin, Base):
    __tablename__ = "service_deployments"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    server_id: Mapped[str] = mapped_column(ForeignKey("servers.id"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    service_name: Mapped[str] = mapped_column(String(63))
    port: Mapped[int] = mapped_column(Integer)
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[DeploymentStatus] = mapped_column(enum_type(DeploymentStatus))
    url: Mapped[str | None] = mapped_column(String(500))
