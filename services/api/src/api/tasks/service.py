"""Tasks: validated status transitions; a terminal status is written once."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import (
    TASK_TRANSITIONS,
    TERMINAL_TASK_STATUSES,
    TaskCreate,
    TaskStatus,
    TaskType,
    TaskUpdate,
)
from shared.permissions import TASKS_CANCEL, TASKS_WRITE
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.db import utc_now
from api.errors import Conflict, Forbidden, InvalidReference, InvalidTransition, NotFound
from api.pagination import Page
from api.projects.service import get_project
from api.repository import apply_changes, equal_to
from api.tasks.models import Task
from api.tasks.repository import TaskRepository


async def create_task(session: AsyncSession, principal: Principal, body: TaskCreate) -> Task:
    try:
        project = await get_project(session, principal, body.project_id)
    except NotFound as exc:
        raise InvalidReference("no such project", field="project_id") from exc
    return await TaskRepository(session).add(
        Task(
            project_id=project.id,
            owner_id=project.owner_id,
            type=body.type,
            spec=body.spec,
            status=TaskStatus.QUEUED,
        )
    )


async def list_tasks(
    session: AsyncSession,
    principal: Principal,
    page: Page,
    *,
    project_id: str | None = None,
    status: TaskStatus | None = None,
    owner_id: str | None = None,
    type_: TaskType | None = None,
    ids: Sequence[str] | None = None,
) -> Sequence[Task]:
    where = equal_to(
        (Task.project_id, project_id),
        (Task.status, status),
        (Task.owner_id, owner_id),
        (Task.type, type_),
        (Task.owner_id, principal.owner_filter()),
    )
    if ids is not None:
        where.append(Task.id.in_(ids))
    return await TaskRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_task(
    session: AsyncSession, principal: Principal, task_id: str, *, for_update: bool = False
) -> Task:
    task = await TaskRepository(session).find(task_id, for_update=for_update)
    principal.check_owner(task.owner_id, "task")
    return task


def is_cancellation(body: TaskUpdate) -> bool:
    """The body only cancels the task, perhaps saying why."""
    return body.status is TaskStatus.CANCELLED and body.model_fields_set <= {"status", "error"}


def scope_to_update(body: TaskUpdate) -> str:
    return TASKS_CANCEL if is_cancellation(body) else TASKS_WRITE


def _only_services_close_tasks(principal: Principal, body: TaskUpdate) -> None:
    """An agent may give up a task but never report it done, failed or running: the service
    running the work does."""
    if principal.is_service or is_cancellation(body):
        return
    if "result" in body.model_fields_set:
        raise Forbidden("only a service key may set a task's result", field="result")
    raise Forbidden("a user key may only cancel a task", field="status")


async def update_task(
    session: AsyncSession, principal: Principal, task_id: str, body: TaskUpdate
) -> Task:
    _only_services_close_tasks(principal, body)
    # The row lock makes concurrent terminal writes queue up: the first wins, the rest see it.
    task = await get_task(session, principal, task_id, for_update=True)
    changes = body.model_dump(exclude_unset=True)
    target = changes.pop("status", None)
    if task.status in TERMINAL_TASK_STATUSES:
        if target in (None, task.status):
            return task  # a repeated final outcome is a no-op, whatever else it carries
        raise Conflict(
            f"the task already ended as {task.status}",
            field="status",
            context={"status": task.status, "refused": target},
        )
    if target is not None and target != task.status:
        if target not in TASK_TRANSITIONS[task.status]:
            raise InvalidTransition(
                f"a {task.status} task cannot become {target}",
                field="status",
                context={"from": task.status, "to": target},
            )
        task.status = target
        now = utc_now()
        if target is TaskStatus.RUNNING:
            task.started_at = now
        if target in TERMINAL_TASK_STATUSES:
            task.finished_at = now
    apply_changes(task, changes)
    await session.flush()
    return task
