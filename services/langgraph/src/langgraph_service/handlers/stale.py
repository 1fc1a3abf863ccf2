"""tasks:stale (from the scheduler): a task still open long after any of its stages could have
ended goes down its flow's own timeout path, under the thread's lock. A flow still running or
waiting for a deadline to come is left to the sweeper; a wait past its deadline is timed out now;
a task with no flow at all (its intent was lost) or whose flow ended without closing it is
finished failed by the graph's `finish`, so its person hears. A task that is closed or unknown
changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from shared.contracts import TERMINAL_TASK_STATUSES, StaleTask, TaskType
from shared.streams.errors import PermanentFailure

from langgraph_service.domain.ids import MAX_TASK_ID, SEPARATOR
from langgraph_service.flows import deploy, engineering
from langgraph_service.flows.runner import FlowRunner, Stale
from langgraph_service.flows.toolkit import stale_state
from langgraph_service.ports import Tasks

log = structlog.get_logger("langgraph_service")

GRAPH_OF = {TaskType.ENGINEERING: engineering.GRAPH, TaskType.DEPLOY: deploy.GRAPH}


async def handle_stale(
    message: StaleTask, *, runner: FlowRunner, tasks: Tasks, clock: Callable[[], datetime]
) -> None:
    task_id = message.task_id
    if len(task_id) > MAX_TASK_ID or SEPARATOR in task_id:
        raise PermanentFailure(f"no task of a flow has the id {task_id[:80]!r}")
    task = await tasks.get(task_id)
    if task is None or task.status in TERMINAL_TASK_STATUSES:
        log.info("stale task closed or unknown; nothing to do", task_id=task_id,
                 status=task.status.value if task else None)  # fmt: skip
        return
    if task.type is not message.task_type:
        # The API's word on the task is the one believed.
        log.warning("stale task of another type than reported", task_id=task_id,
                    reported=message.task_type.value, type=task.type.value)  # fmt: skip

    async def failed(flow_ended: bool) -> dict[str, Any] | None:
        current = await tasks.get(task_id)
        if current is None or current.status in TERMINAL_TASK_STATUSES:
            return None
        why = (
            "its flow ended without closing it"
            if flow_ended
            else "no flow was running it (its intent was lost)"
        )
        error = f"The task was found stale ({message.reason}): {why}."
        return stale_state(current, correlation_id=message.correlation_id, error=error)

    outcome = await runner.end_stale(GRAPH_OF[task.type], task_id, now=clock(), failed=failed)
    fields = {"task_id": task_id, "status": task.status.value, "reason": message.reason}
    if outcome is Stale.OTHER_GRAPH:
        log.error("stale task whose thread runs the other graph; left for an operator", **fields)
    elif outcome in (Stale.FAILED, Stale.TIMED_OUT):
        log.warning(f"stale task {outcome.value}", **fields)
    else:
        log.info(f"stale task {outcome.value}; nothing to do", **fields)
