"""What a worker's end means: the state it ends in, and why its unfinished work failed.

A lifecycle event that says a worker ended is a claim until the backend sees the process exit
(anyone who can write the stream can send one, and the wrapper sends its own just before it
exits); the exit decides, in the claimed state if the exit code agrees. A worker being deleted
ends STOPPED whoever sees it end, and a final state is never left."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.contracts import LifecycleEventKind, WorkerLifecycleEvent, WorkerState

from worker_manager.domain.record import EndClaim, WorkerRecord
from worker_manager.domain.status import DELETED, FINAL, exit_reason, next_state

CLAIMED_ERROR_CHARS = 2000
# The exit code of a worker the backend lost (engine unavailable, process gone unseen).
VANISHED = -1


@dataclass(frozen=True)
class EventVerdict:
    """What a lifecycle event does to a worker's record."""

    state: WorkerState
    fields: Mapping[str, object] = field(default_factory=dict)
    # The event says the worker ended: its unfinished work is answered (with `reason`) and its
    # key revoked before the final state is written, once the backend sees the process exit.
    ends: bool = False
    reason: str = ""

    def claim(self, event: WorkerLifecycleEvent) -> EndClaim:
        """The end the event claims, kept until the process is seen to exit."""
        return EndClaim(self.state, event.exit_code, (event.error or "")[:CLAIMED_ERROR_CHARS])


def event_verdict(current: WorkerState, event: WorkerLifecycleEvent) -> EventVerdict:
    state = next_state(current, event.event)
    fields: dict[str, object] = {}
    if event.task_id:
        fields["current_task_id"] = event.task_id
    if event.exit_code is not None:
        fields["exit_code"] = event.exit_code
    if event.error:
        fields["error"] = event.error
    ends = state in FINAL and event.event is not LifecycleEventKind.STARTED
    reason = (event.error or exit_reason(event.exit_code)) if ends else ""
    return EventVerdict(state, fields, ends, reason)


@dataclass(frozen=True)
class ExitVerdict:
    """What a worker's exit writes: its unfinished work answered with `reason`, then `state`
    with `fields`."""

    reason: str
    state: WorkerState
    fields: Mapping[str, object]


def exit_verdict(record: WorkerRecord, exit_code: int) -> ExitVerdict:
    """The end of a worker whose process exited with `exit_code` (VANISHED if unknown)."""
    claim = record.claim if record.claim and record.claim.exit_code == exit_code else None
    if record.deleting:
        return ExitVerdict(DELETED, WorkerState.STOPPED, {"exit_code": exit_code})
    reason = exit_reason(None if exit_code == VANISHED else exit_code)
    if claim is not None:
        reason = claim.error or reason
    if record.is_final:
        return ExitVerdict(reason, record.state, {"exit_code": exit_code})
    if claim is not None:  # the worker said how it ended, and its exit code agrees
        state = claim.state
    else:
        state = WorkerState.COMPLETED if exit_code == 0 else WorkerState.FAILED
    return ExitVerdict(
        reason, state, {"exit_code": exit_code, "error": None if exit_code == 0 else reason}
    )
