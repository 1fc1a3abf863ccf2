"""Worker states and what a lifecycle event or an exit does to them."""

from __future__ import annotations

from shared.contracts import LifecycleEventKind, WorkerState

LIVE = frozenset({WorkerState.STARTING, WorkerState.RUNNING, WorkerState.PAUSED})
FINAL = frozenset({WorkerState.COMPLETED, WorkerState.FAILED, WorkerState.STOPPED})

STATE_AFTER_EVENT = {
    LifecycleEventKind.STARTED: WorkerState.RUNNING,
    LifecycleEventKind.COMPLETED: WorkerState.COMPLETED,
    LifecycleEventKind.FAILED: WorkerState.FAILED,
    LifecycleEventKind.STOPPED: WorkerState.STOPPED,
}


def next_state(current: WorkerState, event: LifecycleEventKind) -> WorkerState:
    """A final state is never left: a late `started` cannot revive a dead worker."""
    if current in FINAL:
        return current
    return STATE_AFTER_EVENT[event]


def exit_reason(exit_code: int | None) -> str:
    """Why a worker's process ended, for the failed output the single listener receives."""
    if exit_code is None:
        return "the worker vanished (engine unavailable or process lost)"
    if exit_code in (137, -9):
        return "killed: out of memory or SIGKILL (137)"
    if exit_code in (143, -15):
        return "terminated (143)"
    return f"the worker exited with {exit_code}"
