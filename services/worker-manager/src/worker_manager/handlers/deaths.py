"""The engine's word that a worker's container died (docker's `die` event): the worker ends now
rather than at the next watch, and what it leaves is removed."""

from __future__ import annotations

import structlog

from worker_manager.domain.endings import end_worker, remove_remains
from worker_manager.ports import (
    ForgeTokens,
    StatusStore,
    UnfinishedWork,
    WorkerAccess,
    WorkerBackend,
    WorkerInputs,
    WorkerKeys,
    Workspaces,
)

log = structlog.get_logger("worker_manager")


async def handle_death(
    worker_id: str,
    exit_code: int,
    *,
    store: StatusStore,
    backend: WorkerBackend,
    unfinished: UnfinishedWork,
    keys: WorkerKeys,
    workspaces: Workspaces,
    inputs: WorkerInputs,
    access: WorkerAccess,
    forge: ForgeTokens,
    stop_grace_s: float,
) -> None:
    record = await store.record(worker_id)
    if record is None:
        return
    if not record.is_final:
        await end_worker(
            worker_id, record, exit_code, store=store, unfinished=unfinished, keys=keys
        )
    try:
        # Its container has exited: nothing to wait for.
        await remove_remains(
            worker_id,
            store=store,
            backend=backend,
            workspaces=workspaces,
            inputs=inputs,
            access=access,
            forge=forge,
            stop_grace_s=stop_grace_s,
        )
    except Exception:
        log.exception("removing an ended worker failed; the watch retries", worker_id=worker_id)
