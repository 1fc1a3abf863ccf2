"""Task executions: one row per worker run, recorded idempotently by request id."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import TaskExecutionCreate, TaskExecutionUpdate
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.errors import Conflict, InvalidReference, NotFound
from api.executions.models import TaskExecution
from api.executions.repository import TaskExecutionRepository
from api.pagination import Page
from api.repository import apply_changes, equal_to
from api.tasks.service import get_task


async def record_execution(
    session: AsyncSession, principal: Principal, body: TaskExecutionCreate
) -> tuple[TaskExecution, bool]:
    """Returns the execution and whether it was created (False: the request was recorded).

    Runs are recorded by the service that starts them, never by the agent doing the work.
    """
    principal.require_service()
    try:
        task = await get_task(session, principal, body.task_id)
    except NotFound as exc:
        raise InvalidReference("no such task", field="task_id") from exc
    executions = TaskExecutionRepository(session)
    existing = await executions.by_request_id(body.request_id)
    if existing is not None:
        if existing.task_id != body.task_id:
            raise Conflict("that request id belongs to another task", field="request_id")
        return existing, False
    values = body.model_dump(exclude_none=True)
    return await executions.add(TaskExecution(**values, owner_id=task.owner_id)), True


async def list_executions(
    session: AsyncSession, principal: Principal, page: Page, *, task_id: str | None
) -> Sequence[TaskExecution]:
    where = equal_to(
        (TaskExecution.task_id, task_id),
        (TaskExecution.owner_id, principal.owner_filter()),
    )
    return await TaskExecutionRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_execution(
    session: AsyncSession, principal: Principal, execution_id: str, *, for_update: bool = False
) -> TaskExecution:
    execution = await TaskExecutionRepository(session).find(execution_id, for_update=for_update)
    principal.check_owner(execution.owner_id, "task execution")
    return execution


async def update_execution(
    session: AsyncSession, principal: Principal, execution_id: str, body: TaskExecutionUpdate
) -> TaskExecution:
    principal.require_service()
    execution = await get_execution(session, principal, execution_id, for_update=True)
    apply_changes(execution, body.model_dump(exclude_unset=True))
    await session.flush()
    return execution
