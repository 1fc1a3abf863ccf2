from __future__ import annotations

from sqlalchemy import select

from api.projects.models import Project
from api.repository import Repository


class ProjectRepository(Repository[Project]):
    model = Project
    noun = "project"

    async def by_name(self, name: str) -> Project | None:
        result = await self.session.scalars(select(Project).where(Project.name == name))
        return result.one_or_none()
