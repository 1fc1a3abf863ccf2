"""The watch over live workers: when one is paused, woken, given up on, or its remains removed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from shared.contracts import WorkerActivity, WorkerHeartbeat, WorkerState

from worker_manager.domain.record import WorkerRecord


class Step(StrEnum):
    NOTHING = "nothing"
    # Its heartbeat says it is busy: it was active just now, with that task.
    MARK_BUSY = "mark busy"
    # Idle past the idle timeout: paused, unless input is waiting for it (then it is active).
    PAUSE_UNLESS_WORK = "pause unless work"
    # Paused: woken when input is waiting for it.
    WAKE_IF_WORK = "wake if work"


def watch_step(
    record: WorkerRecord,
    heartbeat: WorkerHeartbeat | None,
    *,
    now: datetime,
    idle_timeout_s: float,
) -> Step:
    if record.state is WorkerState.PAUSED:
        return Step.WAKE_IF_WORK
    if record.state is not WorkerState.RUNNING:
        return Step.NOTHING
    if heartbeat is not None and heartbeat.state is WorkerActivity.BUSY:
        return Step.MARK_BUSY
    if heartbeat is None:  # no heartbeat yet: still starting
        return Step.NOTHING
    if idle_seconds(record, now) <= idle_timeout_s:
        return Step.NOTHING
    return Step.PAUSE_UNLESS_WORK


def idle_seconds(record: WorkerRecord, now: datetime) -> float:
    return (now - record.last_active).total_seconds()


def lost_by_engine(record: WorkerRecord, now: float, grace_s: float) -> bool:
    """A backend that cannot say whether a worker lives, for longer than `grace_s`, has lost
    it: the worker ends as vanished rather than be waited on forever."""
    since = record.engine_error_since
    return since is not None and now - since > grace_s


def on_its_way_out(record: WorkerRecord, now: datetime, stop_grace_s: float) -> bool:
    """An ended worker whose process still runs is let go on its own for `stop_grace_s` after
    its final state was written (it said it is done); after that it is stopped."""
    return (now - record.updated_at).total_seconds() <= stop_grace_s
