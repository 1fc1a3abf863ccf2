"""What every path that sees a worker end does (a lifecycle event, the watcher, the engine's
`die` event, a delete), through the ports: its unfinished work answered and its key revoked
before its final state is written, then its remains removed once its process has exited (its
input stream last: only a final state, written after the report, lets it go)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from worker_manager.domain.exits import exit_verdict
from worker_manager.domain.record import WorkerRecord
from worker_manager.domain.status import worker_type_of
from worker_manager.domain.watch import on_its_way_out
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


async def revoke_key(worker_id: str, *, store: StatusStore, keys: WorkerKeys) -> None:
    """Revoke the worker's API key if it still holds one; one the API refuses to revoke is
    kept in the record (it expires on its own)."""
    record = await store.record(worker_id)
    if record is None or not record.key_id:
        return
    try:
        await keys.revoke(record.key_id)
    except Exception:
        log.exception("could not revoke a worker's key; it expires on its own", worker_id=worker_id)
        return
    await store.update(worker_id, key_id="")


async def end_worker(
    worker_id: str,
    record: WorkerRecord,
    exit_code: int,
    *,
    store: StatusStore,
    unfinished: UnfinishedWork,
    keys: WorkerKeys,
) -> None:
    """The worker's process has exited with `exit_code` (VANISHED if unknown): report, revoke,
    then write its final state."""
    # Read again now that the end is seen: a delete marks the worker before stopping it (perhaps
    # on another replica), and a worker that was deleted ends STOPPED, whoever sees it end.
    record = await store.record(worker_id) or record
    verdict = exit_verdict(record, exit_code)
    await unfinished.report(worker_id, record.worker_type, verdict.reason, exit_code)
    await revoke_key(worker_id, store=store, keys=keys)
    await store.update(worker_id, verdict.state, **verdict.fields)
    log.info("worker ended", worker_id=worker_id, exit_code=exit_code)


async def remove_remains(
    worker_id: str,
    *,
    store: StatusStore,
    backend: WorkerBackend,
    workspaces: Workspaces,
    inputs: WorkerInputs,
    access: WorkerAccess,
    forge: ForgeTokens,
    stop_grace_s: float,
) -> None:
    """Remove what an ended worker leaves (container, processes, workspace, Redis users, forge
    token, a developer worker's input stream) once its process has exited; one that lingers past
    `stop_grace_s` after its final state is stopped."""
    record = await store.record(worker_id)
    if record is not None and record.handle:
        if await backend.exit_code(record.handle) is None:
            if on_its_way_out(record, datetime.now(UTC), stop_grace_s):
                return
            await backend.stop(record.handle, stop_grace_s)
        await backend.remove(record.handle, worker_id)
    # Not before: the wrapper reports its end with its own Redis user.
    await access.revoke(worker_id)
    await forge.revoke(worker_id)
    await workspaces.remove(worker_id)
    # Its final state (gone with the record once expired) is written only after its unfinished
    # work was answered, and no process of it is left to make the stream again.
    if record is None:
        await inputs.remove(worker_id, worker_type_of(worker_id))
    elif record.is_final:
        await inputs.remove(worker_id, record.worker_type)
    await store.removed(worker_id)
    log.info("removed an ended worker", worker_id=worker_id)
