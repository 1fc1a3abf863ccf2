from __future__ import annotations

from shared.contracts import AgentType
from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, IdMixin, UpdatedMixin, enum_type


class AgentConfig(IdMixin, UpdatedMixin, Base):
    __tablename__ = "agent_configs"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    agent_type: Mapped[AgentType] = mapped_column(enum_type(AgentType))
    model: Mapped[str] = mapped_column(String(100), default="")
    prompt: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
