"""Stale work: every task queued or running long after its last change is handed to its flow on
`tasks:stale` (langgraph ends it down the flow's own timeout path; the scheduler never closes a
task), and every developer worker whose task ended long ago, or that has lived long with no task,
is deleted through worker-manager (`worker:commands`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError
from shared.contracts import DeleteWorkerCommand, StaleTask, TaskRead, WorkerType
from shared.streams.registry import STALE_TASKS, WORKER_COMMANDS

from scheduler.domain import stale_work
from scheduler.domain.stale_work import OPEN
from scheduler.ports import Lease, Publisher, Summary, Tasks, Workers

log = structlog.get_logger("scheduler")


def utc_now() -> datetime:
    return datetime.now(UTC)


async def find_stale_work(
    lease: Lease,
    *,
    tasks: Tasks,
    workers: Workers,
    publisher: Publisher,
    stale_task_after_s: float,
    worker_orphan_after_s: float,
    clock: Callable[[], datetime] = utc_now,
) -> Summary:
    open_tasks = {task.id: task for status in OPEN for task in await tasks.tasks(status)}
    now = clock()
    handed = 0
    for task in open_tasks.values():
        reason = stale_work.stale_reason(task, now, stale_task_after_s)
        if reason is not None and await _hand_over(lease, task, reason, publisher):
            handed += 1
    found, deleted = 0, 0
    known: dict[str, TaskRead | None] = dict(open_tasks)
    for worker_id, worker in await workers.live_workers():
        if not stale_work.may_be_orphan(worker):
            continue
        task_id = stale_work.task_of(worker)
        if task_id is not None and not stale_work.is_task_id(task_id):
            log.warning("a worker's status names no task id; skipped", worker_id=worker_id)
            continue
        if task_id is not None and task_id not in known:
            known[task_id] = await tasks.task(task_id)
        its_task = None if task_id is None else known[task_id]
        reason = stale_work.orphan_reason(worker, its_task, now, worker_orphan_after_s)
        if reason is None:
            continue
        found += 1
        if await _delete(lease, worker_id, reason, publisher):
            deleted += 1
    return {
        "open_tasks": len(open_tasks),
        "stale_tasks": handed,
        "orphan_workers": found,
        "workers_deleted": deleted,
    }


async def _hand_over(lease: Lease, task: TaskRead, reason: str, publisher: Publisher) -> bool:
    try:
        message = StaleTask(
            request_id=stale_work.stale_request_id(task.id, lease.fence),
            correlation_id=stale_work.correlation_id(lease.fence),
            task_id=task.id,
            task_type=task.type,
            reason=reason,
        )
    except ValidationError:
        log.warning("a task's id makes no request id; not handed over", task_id=task.id[:80])
        return False
    lease.check()
    # A plain publish: the flow's answer to a task handed over twice is the same, and
    # publish_once would keep a week-long marker per task and run.
    await publisher.publish(STALE_TASKS.pattern, message)
    log.info("stale task handed to its flow", task_id=task.id, reason=reason)
    return True


async def _delete(lease: Lease, worker_id: str, reason: str, publisher: Publisher) -> bool:
    """True when the delete was asked now (False: an earlier run asked already)."""
    try:
        command = DeleteWorkerCommand(
            request_id=stale_work.delete_request_id(worker_id),
            correlation_id=stale_work.correlation_id(lease.fence),
            worker_id=worker_id,
            reply_to=WorkerType.DEVELOPER,
        )
    except ValidationError:
        log.warning("a worker's id makes no request id; not deleted", worker_id=worker_id[:80])
        return False
    lease.check()
    if await publisher.publish_once(WORKER_COMMANDS.pattern, command) is None:
        return False
    # The command has no field for it: the reason is told here, and worker-manager logs the
    # request id.
    log.warning("deleting a developer worker nobody needs", worker_id=worker_id, reason=reason)
    return True
