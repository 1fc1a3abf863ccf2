"""What every node of both graphs uses: publish once, wait, tell the task's watchers, move the
project and the task along. Nodes get it through the graph's closure, never build an adapter."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import structlog
from langgraph.types import interrupt
from pydantic import BaseModel
from shared.contracts import (
    RESTING_PROJECT_STATUSES,
    TERMINAL_TASK_STATUSES,
    ProgressEvent,
    ProgressType,
    ProjectRead,
    ProjectStatus,
    TaskRead,
    TaskStatus,
    TaskType,
)
from shared.streams.registry import REGISTRY, TASK_PROGRESS, UnknownStream

from langgraph_service.domain.ids import request_id
from langgraph_service.domain.waits import Resumed, wait_for
from langgraph_service.ports import (
    Crash,
    Executions,
    Health,
    Projects,
    Publisher,
    Refused,
    Servers,
    Sleep,
    Tasks,
)

log = structlog.get_logger("langgraph_service")

# The outcome of a flow whose intent was not its to run (TaskClosed): it writes nothing.
REJECTED = "rejected"
# Every graph's first node; from it, a flow with an outcome goes straight to `finish`.
LOAD = "load"


class FlowState(TypedDict, total=False):
    """What both graphs' states hold: the intent, the project's rest, how the flow ended."""

    task_id: str
    project_id: str
    user_id: str
    correlation_id: str
    callback_stream: str | None
    started_at: float
    project_name: str
    modules: list[str]
    rest: str  # the project's status to return to if the change fails or is cancelled
    outcome: str | None  # success | failed | cancelled | rejected; None while working
    error: str | None


def intent_state(message: Mapping[str, Any]) -> dict[str, Any]:
    """A new flow's state from its intent (an EngineeringMessage or DeployMessage as JSON)."""
    return {
        "task_id": message["task_id"],
        "project_id": message["project_id"],
        "user_id": message["user_id"],
        "correlation_id": message["correlation_id"],
        "callback_stream": message.get("callback_stream"),
        "started_at": time.time(),
        "outcome": None,
    }


def stale_state(task: TaskRead, *, correlation_id: str, error: str) -> dict[str, Any]:
    """What a flow ending a stale task as failed starts from: its task as the API has it, never
    an intent's word (the intent was lost, or was not this task's)."""
    since = task.started_at or task.created_at
    return {
        "task_id": task.id,
        "project_id": task.project_id,
        "user_id": task.owner_id,
        "correlation_id": correlation_id,
        "callback_stream": None,
        "started_at": since.timestamp(),
        "outcome": "failed",
        "error": error,
    }


def ended(outcome: str, error: str) -> dict[str, Any]:
    return {"outcome": outcome, "error": error}


def unless_ended(next_node: str) -> Callable[[Mapping[str, Any]], str]:
    """Route to `next_node`, or to `finish` once the flow has an outcome."""

    def route(state: Mapping[str, Any]) -> str:
        return "finish" if state.get("outcome") else next_node

    return route


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 3
    developer_agent: str = "claude"
    developer_instructions: str = ""
    tester_agent: str = "scripted"
    develop_timeout_s: int = 1800
    test_timeout_s: int = 900
    worker_start_timeout_s: float = 300
    scaffold_timeout_s: float = 900
    deploy_timeout_s: float = 2400
    result_margin_s: float = 300
    deploy_server: str = "local"
    github_token_ref: str | None = None
    secrets_ref_pattern: str = ""
    smoke_attempts: int = 10
    smoke_first_delay_s: float = 0.5


class TaskClosed(Exception):
    """The intent is not this flow's to run: its task does not exist, is of another kind or
    project, or ended already. The flow ends without writing or publishing anything (an intent
    anyone could have written must not close someone else's task)."""


@dataclass(frozen=True)
class Toolkit:
    publisher: Publisher
    projects: Projects
    tasks: Tasks
    executions: Executions
    servers: Servers
    health: Health
    sleep: Sleep
    clock: Callable[[], datetime]
    crash: Crash
    policy: Policy

    async def open_task(
        self, state: Mapping[str, Any], kind: TaskType
    ) -> tuple[TaskRead, ProjectRead]:
        """The flow's task and project, the task marked running; raises TaskClosed."""
        task = await self.tasks.get(state["task_id"])
        if task is None or task.type is not kind:
            raise TaskClosed(f"no such {kind.value} task")
        if task.status in TERMINAL_TASK_STATUSES:
            raise TaskClosed(f"the task is {task.status.value} already")
        if task.project_id != state["project_id"]:
            raise TaskClosed("the task belongs to another project than the intent names")
        project = await self.projects.get(task.project_id)
        if project is None:
            raise TaskClosed("the task's project does not exist")
        if task.status is TaskStatus.QUEUED:
            await self.close_task(task.id, TaskStatus.RUNNING, {}, None)
        return task, project

    async def publish(self, stream: str, message: BaseModel) -> None:
        self.crash.point("before_publish")
        entry = await self.publisher.publish_once(stream, message)
        if entry is not None:  # a step run again publishes nothing and is no new crash point
            self.crash.point("after_publish")

    def wait(self, stream: str, request: str, within_s: float) -> Resumed:
        """Suspend the thread until the result of `request` arrives on `stream`, its deadline
        passes or the task is cancelled (the listener and the sweeper resume it)."""
        value: Resumed = interrupt(wait_for(stream, request, now=self.clock(), within_s=within_s))
        return value

    async def progress(
        self,
        state: Mapping[str, Any],
        kind: ProgressType,
        step: str,
        message: str,
        *,
        pct: int | None = None,
        error: str | None = None,
    ) -> None:
        task_id = state["task_id"]
        event = ProgressEvent(
            request_id=request_id(task_id, "progress", step),
            correlation_id=state["correlation_id"],
            type=kind,
            task_id=task_id,
            message=message[:2000],
            current_step=step,
            progress_pct=pct,
            error=error[:2000] if error else None,
        )
        await self.publish(TASK_PROGRESS.name(task_id=task_id), event)

    async def result(self, state: Mapping[str, Any], message: BaseModel) -> None:
        """The flow's final result: on the task's progress stream, and on the callback stream
        the intent named if it is one that carries it."""
        task_id = state["task_id"]
        await self.publish(TASK_PROGRESS.name(task_id=task_id), message)
        callback = state.get("callback_stream")
        if (
            callback
            and callback != TASK_PROGRESS.name(task_id=task_id)
            and accepts(callback, message)
        ):
            await self.publish(callback, message)

    async def move_project(
        self, project_id: str, status: ProjectStatus, *, commit_sha: str | None = None
    ) -> None:
        """Move the project along; a move the API refuses (someone moved it elsewhere) is
        logged, never fatal to the flow. The tested commit is recorded whatever the status."""
        if commit_sha is not None:
            await self.projects.update(project_id, commit_sha=commit_sha)
        project = await self.projects.get(project_id)
        if project is None or project.status is status:
            return
        try:
            await self.projects.update(project_id, status=status)
        except Refused as exc:
            log.info("project not moved", project_id=project_id, to=status.value, reason=str(exc))

    async def close_task(
        self, task_id: str, status: TaskStatus, result: dict[str, Any], error: str | None
    ) -> None:
        """The task's terminal status; one written already (a cancel) wins."""
        try:
            await self.tasks.update(task_id, status=status, result=result, error=error)
        except Refused as exc:
            log.info("task status kept", task_id=task_id, refused=status.value, reason=str(exc))


def resting_status(project: ProjectRead) -> ProjectStatus:
    """Where the project goes back to if the change now starting fails or is cancelled."""
    if project.status in RESTING_PROJECT_STATUSES:
        return project.status
    return ProjectStatus.READY if project.commit_sha else ProjectStatus.SCAFFOLDED


def accepts(stream: str, message: BaseModel) -> bool:
    try:
        REGISTRY.check_message(stream, message)
    except (UnknownStream, TypeError, ValueError):
        return False
    return True
