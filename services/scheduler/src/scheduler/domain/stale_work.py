"""Stale work's rules: which open tasks have sat unchanged too long (handed to their flow, never
closed here), and which developer workers nobody needs any more (deleted through
worker-manager). Pure: the job brings the tasks, the workers and the time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from shared.contracts import (
    TERMINAL_TASK_STATUSES,
    TaskRead,
    TaskStatus,
    WorkerState,
    WorkerStatus,
    WorkerType,
)

JOB = "stale_work"
OPEN = (TaskStatus.QUEUED, TaskStatus.RUNNING)
# worker-manager removes what ended by itself: only a worker still alive can be an orphan.
ALIVE = frozenset({WorkerState.STARTING, WorkerState.RUNNING, WorkerState.PAUSED})
# A task id as the API makes ids (an Identifier); anything else in a status hash is garbled.
_TASK_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@+=-]{0,127}$")


def stale_reason(task: TaskRead, now: datetime, after_s: float) -> str | None:
    """Why the task is stale (what was seen), or None: it is open and unchanged for longer than
    `after_s`, past any of its stages' time limits."""
    if task.status not in OPEN:
        return None
    unchanged = now - task.updated_at
    if unchanged <= timedelta(seconds=after_s):
        return None
    since = task.updated_at.isoformat(timespec="seconds")
    return f"{task.status.value}, unchanged for {duration(unchanged)} (since {since})"


def stale_request_id(task_id: str, fence: int) -> str:
    """One hand-over per task and run: a run that dies and is run again by its next fence hands
    the task over again, a delivery of the same run's message does not."""
    return f"{task_id}.stale.{fence}"


def delete_request_id(worker_id: str) -> str:
    """One delete per worker, whichever run finds it first: later runs publish nothing more."""
    return f"{JOB}.delete.{worker_id}"


def correlation_id(fence: int) -> str:
    """The run's own id (its `scheduler:runs` record): what it sends traces back to it."""
    return f"{JOB}.{fence}"


def task_of(worker: WorkerStatus) -> str | None:
    """The task a developer worker was created for or last ran (None: none)."""
    return worker.current_task_id or None


def is_task_id(text: str) -> bool:
    return bool(_TASK_ID.match(text))


def may_be_orphan(worker: WorkerStatus) -> bool:
    """A worker this job judges: a live developer worker. A PO worker belongs to a person's
    conversation and is left to worker-manager's idle rules."""
    return worker.worker_type is WorkerType.DEVELOPER and worker.state in ALIVE


def orphan_reason(
    worker: WorkerStatus, task: TaskRead | None, now: datetime, after_s: float
) -> str | None:
    """Why the developer worker is to be deleted, or None. `task` is its task as the API has it
    (None: it has none, or the API has no such task). Its task ended (completed, failed,
    cancelled) more than `after_s` ago; or the worker has lived longer than that with no task,
    or with a task that does not exist."""
    if not may_be_orphan(worker):
        return None
    limit = timedelta(seconds=after_s)
    task_id = task_of(worker)
    if task is None:
        alive = now - (worker.started_at or worker.updated_at)
        if alive <= limit:
            return None
        what = "no task" if task_id is None else f"task {task_id}, which does not exist"
        return f"alive for {duration(alive)} with {what}"
    if task.status not in TERMINAL_TASK_STATUSES:
        return None
    ended = now - (task.finished_at or task.updated_at)
    if ended <= limit:
        return None
    return f"its task {task.id} ended {task.status.value} {duration(ended)} ago"


def duration(span: timedelta) -> str:
    """A span as a person reads it: `2 h 5 min`, `7 min`, `40 s`."""
    seconds = max(0, int(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"
