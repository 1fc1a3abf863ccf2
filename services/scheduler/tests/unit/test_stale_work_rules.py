"""Stale work's rules: when an open task is stale and what is said of it, and which developer
workers nobody needs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from scheduler.domain import stale_work
from shared.contracts import TaskRead, TaskStatus, WorkerState, WorkerStatus, WorkerType

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOUR_S = 3600.0


def task(status: TaskStatus, *, changed: timedelta, ended: timedelta | None = None) -> TaskRead:
    return TaskRead(
        id=uuid.uuid4().hex,
        project_id=uuid.uuid4().hex,
        owner_id=uuid.uuid4().hex,
        type="engineering",
        status=status,
        spec="Add /hello",
        result=None,
        error=None,
        created_at=NOON - timedelta(days=1),
        updated_at=NOON - changed,
        started_at=None,
        finished_at=None if ended is None else NOON - ended,
    )


def worker(
    *,
    started: timedelta,
    task_id: str | None = None,
    kind: WorkerType = WorkerType.DEVELOPER,
    state: WorkerState = WorkerState.RUNNING,
) -> WorkerStatus:
    return WorkerStatus(
        worker_id=f"{kind.value}-1",
        worker_type=kind,
        state=state,
        started_at=NOON - started,
        updated_at=NOON - started,
        current_task_id=task_id,
    )


@pytest.mark.parametrize("status", [TaskStatus.QUEUED, TaskStatus.RUNNING])
def test_an_open_task_unchanged_past_the_limit_is_stale_and_says_what_was_seen(
    status: TaskStatus,
) -> None:
    old = task(status, changed=timedelta(hours=5, minutes=3))

    reason = stale_work.stale_reason(old, NOON, HOUR_S)

    assert reason == f"{status.value}, unchanged for 5 h 3 min (since 2026-05-01T06:57:00+00:00)"


def test_an_open_task_changed_within_the_limit_is_not_stale() -> None:
    assert stale_work.stale_reason(task(TaskStatus.RUNNING, changed=timedelta(hours=1)),
                                   NOON, HOUR_S) is None  # fmt: skip


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED])
def test_an_ended_task_is_never_stale(status: TaskStatus) -> None:
    assert stale_work.stale_reason(task(status, changed=timedelta(days=9)), NOON, HOUR_S) is None


def test_a_task_is_handed_over_once_per_run_and_a_worker_deleted_once_for_all() -> None:
    assert stale_work.stale_request_id("t1", 7) == "t1.stale.7"
    assert stale_work.stale_request_id("t1", 8) != stale_work.stale_request_id("t1", 7)
    assert stale_work.delete_request_id("developer-1") == "stale_work.delete.developer-1"


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED])
def test_a_developer_worker_whose_task_ended_past_the_limit_is_an_orphan(
    status: TaskStatus,
) -> None:
    ended = task(status, changed=timedelta(hours=2), ended=timedelta(hours=2))

    reason = stale_work.orphan_reason(
        worker(started=timedelta(hours=3), task_id=ended.id), ended, NOON, HOUR_S
    )

    assert reason == f"its task {ended.id} ended {status.value} 2 h ago"


def test_a_developer_worker_whose_task_ended_within_the_limit_is_kept() -> None:
    ended = task(TaskStatus.COMPLETED, changed=timedelta(minutes=59), ended=timedelta(minutes=59))

    assert stale_work.orphan_reason(
        worker(started=timedelta(hours=3), task_id=ended.id), ended, NOON, HOUR_S
    ) is None  # fmt: skip


@pytest.mark.parametrize("status", [TaskStatus.QUEUED, TaskStatus.RUNNING])
def test_a_developer_worker_whose_task_is_open_is_kept_however_old(status: TaskStatus) -> None:
    open_task = task(status, changed=timedelta(days=3))

    assert stale_work.orphan_reason(
        worker(started=timedelta(days=3), task_id=open_task.id), open_task, NOON, HOUR_S
    ) is None  # fmt: skip


def test_a_developer_worker_with_no_task_is_an_orphan_once_it_lived_past_the_limit() -> None:
    young = worker(started=timedelta(minutes=30))
    old = worker(started=timedelta(hours=1, minutes=30))

    assert stale_work.orphan_reason(young, None, NOON, HOUR_S) is None
    assert stale_work.orphan_reason(old, None, NOON, HOUR_S) == "alive for 1 h 30 min with no task"


def test_a_developer_worker_whose_task_does_not_exist_is_an_orphan_once_it_lived_past_the_limit(
) -> None:  # fmt: skip
    young = worker(started=timedelta(minutes=30), task_id="gone")
    old = worker(started=timedelta(hours=2), task_id="gone")

    assert stale_work.orphan_reason(young, None, NOON, HOUR_S) is None
    assert stale_work.orphan_reason(old, None, NOON, HOUR_S) == (
        "alive for 2 h with task gone, which does not exist"
    )


def test_a_po_worker_is_left_to_worker_manager_however_long_it_idles() -> None:
    po = worker(started=timedelta(days=30), kind=WorkerType.PO)

    assert not stale_work.may_be_orphan(po)
    assert stale_work.orphan_reason(po, None, NOON, HOUR_S) is None


@pytest.mark.parametrize("state", [WorkerState.COMPLETED, WorkerState.FAILED, WorkerState.STOPPED])
def test_a_worker_that_ended_is_left_to_worker_manager(state: WorkerState) -> None:
    assert stale_work.orphan_reason(
        worker(started=timedelta(days=2), state=state), None, NOON, HOUR_S
    ) is None  # fmt: skip


@pytest.mark.parametrize(
    ("text", "valid"),
    [("0f" * 16, True), ("a/../b", False), ("", False), ("two words", False), ("x" * 129, False)],
)
def test_only_an_identifier_reads_as_a_task_id(text: str, valid: bool) -> None:
    assert stale_work.is_task_id(text) is valid


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(seconds=40), "40 s"),
        (timedelta(minutes=7, seconds=59), "7 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=26, minutes=5), "26 h 5 min"),
        (timedelta(seconds=-3), "0 s"),
    ],
)
def test_a_span_reads_as_a_person_says_it(span: timedelta, text: str) -> None:
    assert stale_work.duration(span) == text
