from __future__ import annotations

from sqlalchemy import select

from api.executions.models import TaskExecution
from api.repository import Repository


class TaskExecutionRepository(Repository[TaskExecution]):
    model = TaskExecution
    noun = "task execution"

    async def by_request_id(self, request_id: str) -> TaskExecution | None:
        query = select(TaskExecution).where(TaskExecution.request_id == request_id)
        return (await self.session.scalars(query)).one_or_none()
