"""The sweeper: ends waits whose deadline passed (as timeouts), ends the waits of cancelled
tasks, and continues flows a dead process left half-way. Deadlines live in Postgres with the
flows, so a wait whose result never comes ends even if every process restarted meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from shared.lifetime import Lifetime

from langgraph_service.domain.waits import cancelled, timed_out
from langgraph_service.flows.runner import FlowRunner
from langgraph_service.ports import Flows, Tasks

log = structlog.get_logger("langgraph_service")

BATCH = 100


async def sweep_forever(
    lifetime: Lifetime,
    *,
    runner: FlowRunner,
    flows: Flows,
    tasks: Tasks,
    clock: Callable[[], datetime],
    interval_s: float,
    stalled_after_s: float,
) -> None:
    while not lifetime.stopping.is_set():
        try:
            await sweep_once(
                runner=runner, flows=flows, tasks=tasks, clock=clock,
                stalled_after_s=stalled_after_s,
            )  # fmt: skip
        except Exception:
            # The API or Postgres away: the next round tries again.
            log.exception("sweep failed; trying again next round")
        await lifetime.sleep(interval_s)


async def sweep_once(
    *,
    runner: FlowRunner,
    flows: Flows,
    tasks: Tasks,
    clock: Callable[[], datetime],
    stalled_after_s: float,
) -> None:
    now = clock()
    for row in await flows.overdue(now, now - timedelta(seconds=stalled_after_s), BATCH):
        if row.status == "waiting":
            if await runner.end_wait(row.thread_id, row.request_id, timed_out()):
                log.warning("a wait passed its deadline", thread_id=row.thread_id,
                            request_id=row.request_id)  # fmt: skip
        elif await runner.continue_stalled(row.thread_id):
            log.info("stalled flow continued", thread_id=row.thread_id)
    after = ""
    while True:
        ids = await flows.unfinished(after, BATCH)
        if not ids:
            break
        for thread_id in sorted(await tasks.cancelled(ids)):
            if await runner.end_wait(thread_id, None, cancelled()):
                log.info("flow cancelled", thread_id=thread_id)
        after = ids[-1]
