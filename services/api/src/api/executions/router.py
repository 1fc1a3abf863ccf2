from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from shared.contracts import TaskExecutionCreate, TaskExecutionRead, TaskExecutionUpdate
from shared.permissions import EXECUTIONS_READ, EXECUTIONS_WRITE

from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.errors import error_responses
from api.executions import service
from api.ids import IdFilter, IdPath
from api.pagination import PageDep

router = APIRouter(
    prefix="/api/task-executions",
    tags=["task-executions"],
    responses=error_responses(401, 403, 422, 503),
)

ExecutionsWrite = Annotated[Principal, requires(EXECUTIONS_WRITE)]
ExecutionsRead = Annotated[Principal, requires(EXECUTIONS_READ)]


@router.post(
    "",
    status_code=201,
    response_model=TaskExecutionRead,
    responses={
        200: {"model": TaskExecutionRead, "description": "Already recorded"},
        **error_responses(409),
    },
)
async def record_task_execution(
    body: TaskExecutionCreate, response: Response, session: SessionDep, principal: ExecutionsWrite
) -> TaskExecutionRead:
    """Record a worker run; the same request id again returns the first record (200).

    Service keys only.
    """
    execution, created = await service.record_execution(session, principal, body)
    if not created:
        response.status_code = 200
    return TaskExecutionRead.model_validate(execution)


@router.get("", response_model=list[TaskExecutionRead])
async def list_task_executions(
    session: SessionDep, principal: ExecutionsRead, page: PageDep, task_id: IdFilter = None
) -> list[TaskExecutionRead]:
    """List worker runs, by task."""
    executions = await service.list_executions(session, principal, page, task_id=task_id)
    return [TaskExecutionRead.model_validate(e) for e in executions]


@router.get("/{execution_id}", response_model=TaskExecutionRead, responses=error_responses(404))
async def get_task_execution(
    execution_id: IdPath, session: SessionDep, principal: ExecutionsRead
) -> TaskExecutionRead:
    """Read a worker run."""
    execution = await service.get_execution(session, principal, execution_id)
    return TaskExecutionRead.model_validate(execution)


@router.patch("/{execution_id}", response_model=TaskExecutionRead, responses=error_responses(404))
async def update_task_execution(
    execution_id: IdPath, body: TaskExecutionUpdate, session: SessionDep, principal: ExecutionsWrite
) -> TaskExecutionRead:
    """Record how a worker run ended. Service keys only."""
    execution = await service.update_execution(session, principal, execution_id, body)
    return TaskExecutionRead.model_validate(execution)
