"""Worker states, exit reasons, and the settings' safety rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from shared.contracts import LifecycleEventKind, WorkerState
from worker_manager.config import ManagerSettings
from worker_manager.domain.status import exit_reason, next_state


@pytest.mark.parametrize(
    ("current", "event", "expected"),
    [
        (WorkerState.STARTING, LifecycleEventKind.STARTED, WorkerState.RUNNING),
        (WorkerState.RUNNING, LifecycleEventKind.COMPLETED, WorkerState.COMPLETED),
        (WorkerState.PAUSED, LifecycleEventKind.FAILED, WorkerState.FAILED),
        (WorkerState.RUNNING, LifecycleEventKind.STOPPED, WorkerState.STOPPED),
        (WorkerState.FAILED, LifecycleEventKind.STARTED, WorkerState.FAILED),
        (WorkerState.STOPPED, LifecycleEventKind.COMPLETED, WorkerState.STOPPED),
    ],
)
def test_lifecycle_events_move_the_state_and_a_final_state_is_never_left(
    current: WorkerState, event: LifecycleEventKind, expected: WorkerState
) -> None:
    assert next_state(current, event) is expected


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (137, "killed: out of memory or SIGKILL (137)"),
        (143, "terminated (143)"),
        (2, "the worker exited with 2"),
        (None, "the worker vanished (engine unavailable or process lost)"),
    ],
)
def test_exit_codes_are_explained(code: int | None, reason: str) -> None:
    assert exit_reason(code) == reason


def test_an_idle_timeout_not_longer_than_the_task_timeout_is_refused() -> None:
    with pytest.raises(ValidationError, match="idle_timeout_s must be greater than task_timeout_s"):
        ManagerSettings(task_timeout_s=600, idle_timeout_s=600)
