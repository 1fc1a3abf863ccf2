"""worker:lifecycle (worker-manager is its only consumer), the watch over workers' processes,
and the removal of what ended workers leave."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from datetime import UTC, datetime

import structlog
from shared.contracts import LifecycleEventKind, WorkerLifecycleEvent, WorkerState, WorkerType
from shared.streams import raw
from shared.streams.registry import DEVELOPER_INPUT, PO_INPUT

from worker_manager.bootstrap import Container
from worker_manager.domain.status import FINAL, exit_reason, next_state
from worker_manager.handlers.commands import DELETED, revoke_key

log = structlog.get_logger("worker_manager")
CLAIMED_ERROR_CHARS = 2000


async def handle_lifecycle(event: WorkerLifecycleEvent, *, deps: Container) -> None:
    record = await deps.store.record(event.worker_id)
    if not record:
        log.warning("lifecycle event for an unknown worker", worker_id=event.worker_id)
        return
    state = next_state(WorkerState(record["state"]), event.event)
    fields: dict[str, object] = {}
    if event.task_id:
        fields["current_task_id"] = event.task_id
    if event.exit_code is not None:
        fields["exit_code"] = event.exit_code
    if event.error:
        fields["error"] = event.error
    if state in FINAL and event.event is not LifecycleEventKind.STARTED:
        if WorkerState(record["state"]) not in FINAL and not await _has_exited(record, deps):
            await _hold_claim(event, state, deps)
            return
        # Clean up before the final state shows, so whoever sees it sees a finished worker.
        await deps.unfinished.report(
            event.worker_id,
            WorkerType(record["worker_type"]),
            event.error or exit_reason(event.exit_code),
            event.exit_code,
        )
        await revoke_key(event.worker_id, deps=deps)
    await deps.store.update(event.worker_id, state, **fields)


async def _has_exited(record: dict[str, str], deps: Container) -> bool:
    handle = record.get("handle")
    if not handle:
        return False  # still being created: nothing has ended that the backend could see
    return await deps.backend.exit_code(handle) is not None


async def _hold_claim(event: WorkerLifecycleEvent, state: WorkerState, deps: Container) -> None:
    """An end the backend does not see yet is a claim, not a fact: anyone who can write the
    stream can send one, and the wrapper sends its own just before it exits. The worker ends when
    the watcher sees its process exit, in the claimed state if the exit code agrees."""
    log.warning(
        "a lifecycle event says a worker ended, but the backend sees it alive",
        worker_id=event.worker_id,
        lifecycle_event=event.event.value,
    )
    await deps.store.update(
        event.worker_id,
        claimed_state=state.value,
        claimed_exit_code=event.exit_code,
        claimed_error=(event.error or "")[:CLAIMED_ERROR_CHARS],
    )


async def watch_workers(deps: Container) -> None:
    """One pass: deaths, idle workers to pause, paused workers with work to wake."""
    for worker_id in await deps.store.live():
        try:
            await _watch(worker_id, deps)
        except Exception:
            log.exception("watching a worker failed", worker_id=worker_id)


async def _watch(worker_id: str, deps: Container) -> None:
    record = await deps.store.record(worker_id)
    handle = record.get("handle")
    if not record or not handle:
        return
    try:
        exit_code = await deps.backend.exit_code(handle)
    except Exception as exc:
        await _engine_unreachable(worker_id, record, exc, deps)
        return
    if record.get("engine_error_since"):
        await deps.store.update(worker_id, engine_error_since="")
    if exit_code is not None:
        await _ended(worker_id, record, exit_code, deps)
        return
    state = WorkerState(record["state"])
    if state is WorkerState.RUNNING:
        await _maybe_pause(worker_id, record, deps)
    elif state is WorkerState.PAUSED and await _has_work(worker_id, record, deps):
        await deps.backend.resume(handle)
        await deps.store.update(worker_id, WorkerState.RUNNING, last_active_at=_now())
        log.info("woke a paused worker: input is waiting", worker_id=worker_id)


async def handle_death(worker_id: str, exit_code: int, *, deps: Container) -> None:
    """The engine says a worker's container died: end it now rather than at the next watch."""
    record = await deps.store.record(worker_id)
    if not record:
        return
    if WorkerState(record["state"]) not in FINAL:
        await _ended(worker_id, record, exit_code, deps)
    try:
        await _remove(worker_id, deps)  # its container has exited: nothing to wait for
    except Exception:
        log.exception("removing an ended worker failed; the watch retries", worker_id=worker_id)


async def _engine_unreachable(
    worker_id: str, record: dict[str, str], error: Exception, deps: Container
) -> None:
    """A backend that cannot say whether a worker lives, for longer than ENGINE_GRACE_S, has lost
    it: the worker ends as vanished and its task is reported, rather than waited on forever."""
    since = float(record.get("engine_error_since") or 0) or time.time()
    if not record.get("engine_error_since"):
        await deps.store.update(worker_id, engine_error_since=str(since))
    log.warning("the backend cannot see a worker", worker_id=worker_id, error=str(error))
    if time.time() - since > deps.settings.engine_grace_s:
        await _ended(worker_id, record, -1, deps)


async def _ended(worker_id: str, record: dict[str, str], exit_code: int, deps: Container) -> None:
    # Read again now that the end is seen: a delete marks the worker before stopping it (perhaps
    # on another replica), and a worker that was deleted ends STOPPED, whoever sees it end.
    record = await deps.store.record(worker_id) or record
    state = WorkerState(record["state"])
    deleted = bool(record.get("deleting"))
    claimed = (
        record.get("claimed_state") if record.get("claimed_exit_code") == str(exit_code) else None
    )
    reason = DELETED if deleted else exit_reason(None if exit_code == -1 else exit_code)
    if claimed and not deleted:
        reason = record.get("claimed_error") or reason
    await deps.unfinished.report(worker_id, WorkerType(record["worker_type"]), reason, exit_code)
    await revoke_key(worker_id, deps=deps)
    if deleted:
        await deps.store.update(worker_id, WorkerState.STOPPED, exit_code=exit_code)
    elif state not in FINAL:
        final = WorkerState.COMPLETED if exit_code == 0 else WorkerState.FAILED
        if claimed:  # the worker said how it ended, and its exit code agrees
            final = WorkerState(claimed)
        await deps.store.update(
            worker_id, final, exit_code=exit_code, error=None if exit_code == 0 else reason
        )
    else:
        await deps.store.update(worker_id, state, exit_code=exit_code)
    log.info("worker ended", worker_id=worker_id, exit_code=exit_code)


async def remove_ended(deps: Container) -> None:
    """One pass: remove what ended workers leave (container, processes, workspace) once their
    process has exited; one that lingers past STOP_GRACE_S after its final state is stopped."""
    for worker_id in await deps.store.ended():
        try:
            await _remove(worker_id, deps)
        except Exception:
            log.exception("removing an ended worker failed", worker_id=worker_id)


async def _remove(worker_id: str, deps: Container) -> None:
    record = await deps.store.record(worker_id)
    handle = record.get("handle")
    if handle:
        if await deps.backend.exit_code(handle) is None:
            ended_at = datetime.fromisoformat(record["updated_at"]).timestamp()
            if time.time() - ended_at <= deps.settings.stop_grace_s:
                return  # it said it is done and is on its way out
            await deps.backend.stop(handle, deps.settings.stop_grace_s)
        await deps.backend.remove(handle, worker_id)
    workspace = deps.workspace_root / worker_id
    try:
        await asyncio.to_thread(shutil.rmtree, workspace)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not delete a workspace", worker_id=worker_id, error=str(exc))
    await deps.store.removed(worker_id)
    log.info("removed an ended worker", worker_id=worker_id)


async def _maybe_pause(worker_id: str, record: dict[str, str], deps: Container) -> None:
    beat = await deps.redis.get(f"worker:heartbeat:{worker_id}")
    if beat and json.loads(beat).get("state") == "busy":
        await deps.store.update(
            worker_id,
            last_active_at=_now(),
            current_task_id=json.loads(beat).get("task_id"),
            current_request_id=json.loads(beat).get("request_id"),
        )
        return
    last = datetime.fromisoformat(record.get("last_active_at") or record["started_at"])
    idle_s = time.time() - last.timestamp()
    if idle_s <= deps.settings.idle_timeout_s or not beat:  # no heartbeat yet: still starting
        return
    if await _has_work(worker_id, record, deps):
        await deps.store.update(worker_id, last_active_at=_now())
        return
    await deps.backend.pause(record["handle"])
    await deps.store.update(worker_id, WorkerState.PAUSED)
    log.info("paused an idle worker", worker_id=worker_id, idle_s=round(idle_s))


async def _has_work(worker_id: str, record: dict[str, str], deps: Container) -> bool:
    # A paused worker blocked in XREADGROUP is still handed new entries by Redis: they show as
    # pending to it rather than as undelivered, so both count.
    return await _holds_input(worker_id, record, deps) or await _has_waiting_input(record, deps)


async def _holds_input(worker_id: str, record: dict[str, str], deps: Container) -> bool:
    """Whether the worker has taken an input it has not acknowledged: it is working."""
    stream, group = _input(record)
    try:
        pending = await deps.redis.xpending_range(
            stream, group, min="-", max="+", count=1, consumername=worker_id
        )
    except Exception:
        return False
    return bool(pending)


def _input(record: dict[str, str]) -> tuple[str, str]:
    if record.get("worker_type") == WorkerType.PO.value:
        return PO_INPUT.name(worker_id=record["worker_id"]), "po-worker"
    return DEVELOPER_INPUT.pattern, "developer-workers"


async def _has_waiting_input(record: dict[str, str], deps: Container) -> bool:
    """Entries in the worker's input stream that its group has not been given yet."""
    stream, group = _input(record)
    newest = await raw.last_entry_id(raw.raw_reader(deps.redis), stream)
    if newest is None:
        return False
    try:
        groups = await deps.redis.xinfo_groups(stream)
    except Exception:
        return True
    delivered = next((g["last-delivered-id"] for g in groups if g["name"] == group), "0-0")
    return _id(newest) > _id(str(delivered))


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _now() -> str:
    return datetime.now(UTC).isoformat()
