"""Worker states, exit reasons, workers' names, and the settings' safety rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from shared.contracts import LifecycleEventKind, POWorkerInput, WorkerState, WorkerType
from worker_manager.config import ManagerSettings
from worker_manager.domain.status import (
    PO_WORKER_DIED,
    dead_po_workers_answer,
    exit_reason,
    new_worker_id,
    next_state,
    worker_type_of,
)


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


@pytest.mark.parametrize("worker_type", list(WorkerType))
def test_a_new_worker_id_names_its_type_and_is_read_back(worker_type: WorkerType) -> None:
    worker_id = new_worker_id(worker_type)
    assert worker_id.startswith(f"{worker_type.value}-")
    assert worker_type_of(worker_id) is worker_type
    assert new_worker_id(worker_type) != worker_id


@pytest.mark.parametrize(
    ("worker_id", "recorded", "expected"),
    [
        ("po-0123456789ab", None, WorkerType.PO),
        ("developer-0123456789ab", None, WorkerType.DEVELOPER),
        ("someone-elses-id", None, WorkerType.DEVELOPER),
        ("pony-1", None, WorkerType.DEVELOPER),
        ("developer-1", "po", WorkerType.PO),
    ],
)
def test_the_recorded_type_wins_and_else_the_id_says_whom_to_answer(
    worker_id: str, recorded: str | None, expected: WorkerType
) -> None:
    assert worker_type_of(worker_id, recorded) is expected


def test_a_dead_po_workers_answer_ends_the_turn_and_says_the_message_was_not_handled() -> None:
    message = POWorkerInput(user_id="u-1", prompt="build me a thing")

    answer = dead_po_workers_answer(message)

    assert (answer.request_id, answer.correlation_id, answer.user_id) == (
        message.request_id,
        message.correlation_id,
        "u-1",
    )
    assert (answer.is_final, answer.worker_died, answer.session_id) == (True, True, None)
    # Neutral: the bot decides whether to send the message to a fresh worker.
    assert (
        answer.text
        == PO_WORKER_DIED
        == ("Sorry, my session stopped before I could answer your message.")
    )


def test_the_settings_bound_commands_in_flight_and_keep_finished_workers_a_day() -> None:
    settings = ManagerSettings()
    assert settings.command_concurrency == 4
    assert settings.status_ttl_s == 24 * 3600
    assert settings.create_lease_s < settings.command_claim_idle_s
    with pytest.raises(ValidationError):
        ManagerSettings(command_concurrency=0)
