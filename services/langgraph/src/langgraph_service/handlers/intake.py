"""engineering:queue and deploy:queue: each intent starts its task's thread (thread id = task
id). The entry is acknowledged once the thread has reached its first wait or its end."""

from __future__ import annotations

import structlog
from shared.contracts import DeployMessage, EngineeringMessage
from shared.streams.errors import PermanentFailure

from langgraph_service.domain.ids import MAX_TASK_ID, SEPARATOR
from langgraph_service.flows import deploy, engineering
from langgraph_service.flows.runner import FlowRunner, WrongFlow

log = structlog.get_logger("langgraph_service")


async def handle_engineering(message: EngineeringMessage, *, runner: FlowRunner) -> None:
    _check_task_id(message.task_id)
    log.info("engineering intent", task_id=message.task_id, project_id=message.project_id)
    state = engineering.initial_state(message.model_dump(mode="json"))
    await _start(runner, engineering.GRAPH, message.task_id, dict(state))


async def handle_deploy(message: DeployMessage, *, runner: FlowRunner) -> None:
    _check_task_id(message.task_id)
    log.info("deploy intent", task_id=message.task_id, project_id=message.project_id)
    state = deploy.initial_state(message.model_dump(mode="json"))
    await _start(runner, deploy.GRAPH, message.task_id, dict(state))


async def _start(runner: FlowRunner, graph: str, task_id: str, state: dict[str, object]) -> None:
    try:
        await runner.start(graph, task_id, state)
    except WrongFlow as exc:
        raise PermanentFailure(str(exc)) from exc


def _check_task_id(task_id: str) -> None:
    # The flow's request ids are built from the task id: it must leave room for them and not
    # contain their separator.
    if len(task_id) > MAX_TASK_ID or SEPARATOR in task_id:
        raise PermanentFailure(
            f"task_id must be at most {MAX_TASK_ID} characters without {SEPARATOR!r}"
        )
