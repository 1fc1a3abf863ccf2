"""Worker states, what a lifecycle event or an exit does to them, and workers' names."""

from __future__ import annotations

import uuid

from shared.contracts import (
    LifecycleEventKind,
    POWorkerInput,
    POWorkerOutput,
    WorkerState,
    WorkerType,
)

LIVE = frozenset({WorkerState.STARTING, WorkerState.RUNNING, WorkerState.PAUSED})
FINAL = frozenset({WorkerState.COMPLETED, WorkerState.FAILED, WorkerState.STOPPED})
# Why a deleted worker's unfinished work is answered as failed.
DELETED = "the worker was deleted"
PO_WORKER_DIED = "Sorry, my session stopped before I could answer your message."

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


def new_worker_id(worker_type: WorkerType) -> str:
    """`<type>-<12 hex>`: the type stays readable in the id after the status has expired."""
    return f"{worker_type.value}-{uuid.uuid4().hex[:12]}"


def worker_type_of(worker_id: str, recorded: str | None = None) -> WorkerType:
    """A worker's type as recorded, else as its id says (a command about an unknown or expired
    worker is answered to whoever asks about that type); developer when the id says nothing."""
    if recorded:
        return WorkerType(recorded)
    if worker_id.startswith(f"{WorkerType.PO.value}-"):
        return WorkerType.PO
    return WorkerType.DEVELOPER


def dead_po_workers_answer(message: POWorkerInput) -> POWorkerOutput:
    """The final answer to a message a PO worker died before answering (`worker_died`): it ends
    the turn, and its words neither promise a retry nor ask for one (the bot decides). Its
    session is not known here (None: the one the bot has stays)."""
    return POWorkerOutput(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        user_id=message.user_id,
        text=PO_WORKER_DIED,
        is_final=True,
        worker_died=True,
    )
