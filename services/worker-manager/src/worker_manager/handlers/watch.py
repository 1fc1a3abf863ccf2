"""The watch over workers' processes, one pass at a time: deaths, idle workers to pause, paused
workers with work to wake, what ended workers leave, what no worker explains (Redis users,
workspace volumes), and old worker images."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import structlog
from shared.contracts import WorkerState

from worker_manager.domain.endings import end_worker, remove_remains
from worker_manager.domain.exits import VANISHED
from worker_manager.domain.record import WorkerRecord
from worker_manager.domain.watch import Step, idle_seconds, lost_by_engine, watch_step
from worker_manager.ports import (
    ForgeTokens,
    Heartbeats,
    ImageCollector,
    StatusStore,
    UnfinishedWork,
    WorkerAccess,
    WorkerBackend,
    WorkerInputs,
    WorkerKeys,
    Workspaces,
)

log = structlog.get_logger("worker_manager")


async def watch_workers(
    *,
    store: StatusStore,
    backend: WorkerBackend,
    unfinished: UnfinishedWork,
    keys: WorkerKeys,
    heartbeats: Heartbeats,
    inputs: WorkerInputs,
    idle_timeout_s: float,
    engine_grace_s: float,
) -> None:
    """One pass over the live workers; one that cannot be watched does not hold up the others."""
    for worker_id in await store.live():
        try:
            record = await store.record(worker_id)
            if record is None or not record.handle:
                continue
            await _watch(
                record,
                record.handle,
                store=store,
                backend=backend,
                unfinished=unfinished,
                keys=keys,
                heartbeats=heartbeats,
                inputs=inputs,
                idle_timeout_s=idle_timeout_s,
                engine_grace_s=engine_grace_s,
            )
        except Exception:
            log.exception("watching a worker failed", worker_id=worker_id)


async def _watch(
    record: WorkerRecord,
    handle: str,
    *,
    store: StatusStore,
    backend: WorkerBackend,
    unfinished: UnfinishedWork,
    keys: WorkerKeys,
    heartbeats: Heartbeats,
    inputs: WorkerInputs,
    idle_timeout_s: float,
    engine_grace_s: float,
) -> None:
    worker_id = record.worker_id
    try:
        exit_code = await backend.exit_code(handle)
    except Exception as exc:
        log.warning("the backend cannot see a worker", worker_id=worker_id, error=str(exc))
        if record.engine_error_since is None:
            await store.update(worker_id, engine_error_since=str(time.time()))
        elif lost_by_engine(record, time.time(), engine_grace_s):
            await end_worker(
                worker_id, record, VANISHED, store=store, unfinished=unfinished, keys=keys
            )
        return
    if record.engine_error_since is not None:
        await store.update(worker_id, engine_error_since="")
    if exit_code is not None:
        await end_worker(
            worker_id, record, exit_code, store=store, unfinished=unfinished, keys=keys
        )
        return
    now = datetime.now(UTC)
    heartbeat = await heartbeats.heartbeat(worker_id)
    step = watch_step(record, heartbeat, now=now, idle_timeout_s=idle_timeout_s)
    if step is Step.MARK_BUSY:
        assert heartbeat is not None
        await store.update(
            worker_id,
            last_active_at=now.isoformat(),
            current_task_id=heartbeat.task_id,
            current_request_id=heartbeat.request_id,
        )
    elif step is Step.PAUSE_UNLESS_WORK:
        if await inputs.has_work(worker_id, record.worker_type):
            await store.update(worker_id, last_active_at=now.isoformat())
            return
        await backend.pause(handle)
        await store.update(worker_id, WorkerState.PAUSED)
        log.info(
            "paused an idle worker", worker_id=worker_id, idle_s=round(idle_seconds(record, now))
        )
    elif step is Step.WAKE_IF_WORK and await inputs.has_work(worker_id, record.worker_type):
        await backend.resume(handle)
        await store.update(worker_id, WorkerState.RUNNING, last_active_at=now.isoformat())
        log.info("woke a paused worker: input is waiting", worker_id=worker_id)


async def remove_ended(
    *,
    store: StatusStore,
    backend: WorkerBackend,
    workspaces: Workspaces,
    inputs: WorkerInputs,
    access: WorkerAccess,
    forge: ForgeTokens,
    stop_grace_s: float,
) -> None:
    """One pass: remove what ended workers leave once their process has exited."""
    for worker_id in await store.ended():
        try:
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
            log.exception("removing an ended worker failed", worker_id=worker_id)


async def revoke_orphans(*, store: StatusStore, access: WorkerAccess, suspects: set[str]) -> None:
    """One pass: delete the Redis users of workers nobody records (a create that died between
    making them and recording its worker); an ended worker's are removed with its remains.

    A create makes a worker's users a moment before it records the worker, here or on another
    replica: users are deleted only when the previous pass already found them unexplained
    (`suspects`, kept across passes)."""
    holders = await access.holders()
    known = set(await store.live()) | set(await store.ended()) if holders else set()
    unexplained = {w for w in holders - known if await store.record(w) is None}
    for worker_id in sorted(unexplained & suspects):
        await access.revoke(worker_id)
        log.info("deleted the Redis users of an unknown worker", worker_id=worker_id)
    suspects.clear()
    suspects.update(unexplained)


async def remove_orphan_workspaces(*, store: StatusStore, workspaces: Workspaces) -> None:
    """One pass: remove the workspaces kept apart (volumes) of workers that are neither live nor
    ended (their removal failed, or worker-manager stopped between a start and its record's end);
    an ended worker's goes with its remains.

    A worker's volume is made by its start, after its record is written (live), and the record
    leaves the ended index only once its remains are removed: live is read before ended, so a
    worker moving from one to the other meanwhile is seen in one of them. A workspace still in
    use (a container holds it) is kept by `remove`."""
    try:
        kept = await workspaces.kept()
    except Exception:
        # An engine out of reach holds up nothing else: the next pass looks again.
        log.exception("could not list the workspace volumes")
        return
    if not kept:
        return
    known = set(await store.live())
    known |= set(await store.ended())
    for worker_id in sorted(kept - known):
        log.info("removing the workspace of an unknown worker", worker_id=worker_id)
        try:
            await workspaces.remove(worker_id)
        except Exception:
            log.exception("removing a workspace failed", worker_id=worker_id)


async def collect_images(*, images: ImageCollector, max_idle_days: float) -> None:
    removed = await images.collect_garbage(max_idle_days)
    if removed:
        log.info("removed unused worker images", tags=removed)
