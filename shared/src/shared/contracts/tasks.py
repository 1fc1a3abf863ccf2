"""Tasks and their executions (REST), and the task status machine."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from shared.contracts.base import Count, Identifier, Int32, RestModel
from shared.contracts.common import OutcomeStatus


class TaskType(StrEnum):
    ENGINEERING = "engineering"
    DEPLOY = "deploy"


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_TASK_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, *TERMINAL_TASK_STATUSES}),
    TaskStatus.RUNNING: TERMINAL_TASK_STATUSES,
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


class TaskCreate(RestModel):
    project_id: Identifier = Field(description="The project the task is for.")
    type: TaskType = Field(description="Engineering or deploy.")
    spec: str = Field(default="", max_length=100_000, description="What to do.")


class TaskUpdate(RestModel):
    status: TaskStatus | None = Field(
        default=None, description="Next status; a terminal status is written once."
    )
    result: dict[str, Any] | None = Field(default=None, description="The outcome's details.")
    error: str | None = Field(default=None, max_length=10_000, description="Why it failed.")


class TaskRead(RestModel):
    id: Identifier = Field(description="The task's id.")
    project_id: Identifier = Field(description="Its project.")
    owner_id: Identifier = Field(description="The owner of its project.")
    type: TaskType = Field(description="Engineering or deploy.")
    status: TaskStatus = Field(description="Where it is.")
    spec: str = Field(description="What to do.")
    result: dict[str, Any] | None = Field(description="The outcome's details.")
    error: str | None = Field(description="Why it failed.")
    created_at: datetime = Field(description="When it was created.")
    updated_at: datetime = Field(description="When it last changed.")
    started_at: datetime | None = Field(description="When it started running.")
    finished_at: datetime | None = Field(description="When it reached a terminal status.")


class TaskExecutionCreate(RestModel):
    request_id: Identifier = Field(description="The worker input's request id (unique).")
    task_id: Identifier = Field(description="The task the run belongs to.")
    worker_id: Identifier = Field(description="The worker that runs it.")
    started_at: AwareDatetime | None = Field(default=None, description="Start; default now.")


class TaskExecutionUpdate(RestModel):
    finished_at: AwareDatetime | None = Field(default=None, description="When the run ended.")
    duration_ms: Count | None = Field(default=None, description="Its wall time.")
    exit_code: Int32 | None = Field(default=None, description="The agent's exit code.")
    status: OutcomeStatus | None = Field(default=None, description="How it ended.")
    result: dict[str, Any] | None = Field(default=None, description="Its result data.")


class TaskExecutionRead(RestModel):
    id: Identifier = Field(description="The execution's id.")
    request_id: Identifier = Field(description="The worker input's request id.")
    task_id: Identifier = Field(description="Its task.")
    worker_id: Identifier = Field(description="The worker that ran it.")
    started_at: datetime = Field(description="When it started.")
    finished_at: datetime | None = Field(description="When it ended.")
    duration_ms: int | None = Field(description="Its wall time.")
    exit_code: int | None = Field(description="The agent's exit code.")
    status: OutcomeStatus | None = Field(description="How it ended; empty while running.")
    result: dict[str, Any] | None = Field(description="Its result data.")
