"""worker:lifecycle (worker-manager is its only consumer): what workers say of themselves."""

from __future__ import annotations

import structlog
from shared.contracts import WorkerLifecycleEvent

from worker_manager.domain.endings import revoke_key
from worker_manager.domain.exits import event_verdict
from worker_manager.ports import StatusStore, UnfinishedWork, WorkerBackend, WorkerKeys

log = structlog.get_logger("worker_manager")


async def handle_lifecycle(
    event: WorkerLifecycleEvent,
    *,
    store: StatusStore,
    backend: WorkerBackend,
    unfinished: UnfinishedWork,
    keys: WorkerKeys,
) -> None:
    record = await store.record(event.worker_id)
    if record is None:
        log.warning("lifecycle event for an unknown worker", worker_id=event.worker_id)
        return
    verdict = event_verdict(record.state, event)
    if verdict.ends:
        # An end the backend does not see yet is a claim, not a fact: the worker ends when the
        # watcher sees its process exit, in the claimed state if the exit code agrees.
        if not record.is_final and not (
            record.handle and await backend.exit_code(record.handle) is not None
        ):
            # The usual order: a worker says it ends, then its process exits.
            log.info(
                "a worker says it ended; its process has not exited yet",
                worker_id=event.worker_id,
                lifecycle_event=event.event.value,
            )
            await store.update(event.worker_id, **verdict.claim(event).fields())
            return
        # Clean up before the final state shows, so whoever sees it sees a finished worker.
        await unfinished.report(
            event.worker_id, record.worker_type, verdict.reason, event.exit_code
        )
        await revoke_key(event.worker_id, store=store, keys=keys)
    await store.update(event.worker_id, verdict.state, **verdict.fields)
