from __future__ import annotations

from sqlalchemy import select

from api.agent_configs.models import AgentConfig
from api.repository import Repository


class AgentConfigRepository(Repository[AgentConfig]):
    model = AgentConfig
    noun = "agent config"

    async def by_name(self, name: str) -> AgentConfig | None:
        query = select(AgentConfig).where(AgentConfig.name == name)
        return (await self.session.scalars(query)).one_or_none()
