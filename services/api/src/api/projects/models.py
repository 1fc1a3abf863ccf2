from __future__ import annotations

from shared.contracts import ProjectStatus
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, IdMixin, UpdatedMixin, enum_type


class Project(IdMixin, UpdatedMixin, Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ProjectStatus] = mapped_column(
        enum_type(ProjectStatus), default=ProjectStatus.DRAFT, index=True
    )
    modules: Mapped[list[str]] = mapped_column(JSONB, default=list)
    repository_url: Mapped[str | None] = mapped_column(String(500))
    # The last commit whose tests passed: what a deploy ships unless it names another.
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
