from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from shared.contracts import TaskCreate, TaskRead, TaskStatus, TaskType, TaskUpdate
from shared.permissions import TASKS_CREATE, TASKS_READ

from api.auth.principal import Principal, PrincipalDep, requires
from api.db import SessionDep
from api.errors import error_responses
from api.ids import IdFilter, IdListFilter, IdPath
from api.pagination import PageDep
from api.tasks import service

router = APIRouter(
    prefix="/api/tasks", tags=["tasks"], responses=error_responses(401, 403, 422, 503)
)

TasksCreate = Annotated[Principal, requires(TASKS_CREATE)]
TasksRead = Annotated[Principal, requires(TASKS_READ)]


@router.post("", status_code=201, response_model=TaskRead)
async def create_task(body: TaskCreate, session: SessionDep, principal: TasksCreate) -> TaskRead:
    """Create a task, `queued`, for a project the caller may see."""
    return TaskRead.model_validate(await service.create_task(session, principal, body))


@router.get("", response_model=list[TaskRead])
async def list_tasks(
    session: SessionDep,
    principal: TasksRead,
    page: PageDep,
    project_id: IdFilter = None,
    owner_id: IdFilter = None,
    status: TaskStatus | None = None,
    type: TaskType | None = None,
    id: IdListFilter = None,
) -> list[TaskRead]:
    """List tasks by id, project, owner, status and type (a user's key sees only its own).

    `id` may be repeated (`?status=cancelled&id=a&id=b`): which of these tasks are cancelled.
    """
    tasks = await service.list_tasks(
        session,
        principal,
        page,
        project_id=project_id,
        status=status,
        owner_id=owner_id,
        type_=type,
        ids=id,
    )
    return [TaskRead.model_validate(t) for t in tasks]


@router.get("/{task_id}", response_model=TaskRead, responses=error_responses(404))
async def get_task(task_id: IdPath, session: SessionDep, principal: TasksRead) -> TaskRead:
    """Read a task."""
    return TaskRead.model_validate(await service.get_task(session, principal, task_id))


@router.patch("/{task_id}", response_model=TaskRead, responses=error_responses(404, 409))
async def update_task(
    task_id: IdPath, body: TaskUpdate, session: SessionDep, principal: PrincipalDep
) -> TaskRead:
    """Move a task on; its terminal status is written once (the same again: 200; another: 409).

    Cancelling takes `tasks:cancel`, any other change `tasks:write`; only a service key may
    set another status or the result.
    """
    # The scope depends on the body, so it is checked here rather than in the signature.
    principal.require(service.scope_to_update(body))
    return TaskRead.model_validate(await service.update_task(session, principal, task_id, body))
