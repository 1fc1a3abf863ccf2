"""The stale-work job against small fakes: what it hands over, what it deletes, what it leaves, and
that a run which lost its lease writes nothing more."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel
from scheduler.handlers.stale_work import find_stale_work
from scheduler.ports import LeaseLost, Summary
from shared.contracts import (
    DeleteWorkerCommand,
    StaleTask,
    TaskRead,
    TaskStatus,
    TaskType,
    WorkerState,
    WorkerStatus,
    WorkerType,
)

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def task(status: TaskStatus, *, changed: timedelta, kind: TaskType = TaskType.ENGINEERING,
         task_id: str | None = None) -> TaskRead:  # fmt: skip
    ended = NOON - changed if status not in (TaskStatus.QUEUED, TaskStatus.RUNNING) else None
    return TaskRead(
        id=task_id or uuid.uuid4().hex,
        project_id=uuid.uuid4().hex,
        owner_id=uuid.uuid4().hex,
        type=kind,
        status=status,
        spec="",
        result=None,
        error=None,
        created_at=NOON - 2 * changed,
        updated_at=NOON - changed,
        started_at=None,
        finished_at=ended,
    )


def worker(worker_id: str, *, started: timedelta, task_id: str | None = None,
           kind: WorkerType = WorkerType.DEVELOPER) -> WorkerStatus:  # fmt: skip
    return WorkerStatus(
        worker_id=worker_id,
        worker_type=kind,
        state=WorkerState.RUNNING,
        started_at=NOON - started,
        updated_at=NOON - started,
        current_task_id=task_id,
    )


@dataclass
class FakeLease:
    fence: int = 7
    lost_after: int | None = None
    checks: int = 0

    def check(self) -> None:
        if self.lost_after is not None and self.checks >= self.lost_after:
            raise LeaseLost("lost")
        self.checks += 1


@dataclass
class FakeTasks:
    known: dict[str, TaskRead] = field(default_factory=dict)
    asked_one_by_one: list[str] = field(default_factory=list)

    def add(self, *tasks: TaskRead) -> None:
        self.known |= {t.id: t for t in tasks}

    async def tasks(self, status: TaskStatus) -> list[TaskRead]:
        return [t for t in self.known.values() if t.status is status]

    async def task(self, task_id: str) -> TaskRead | None:
        self.asked_one_by_one.append(task_id)
        return self.known.get(task_id)


@dataclass
class FakeWorkers:
    live: list[WorkerStatus] = field(default_factory=list)

    async def live_workers(self) -> list[tuple[str, WorkerStatus]]:
        return [(w.worker_id, w) for w in self.live]


@dataclass
class FakePublisher:
    published: list[tuple[str, BaseModel]] = field(default_factory=list)

    async def publish(self, stream: str, message: BaseModel) -> str:
        self.published.append((stream, message))
        return f"{len(self.published)}-0"

    async def publish_once(self, stream: str, message: BaseModel) -> str | None:
        request_id = getattr(message, "request_id", "")
        if any(s == stream and getattr(m, "request_id", None) == request_id
               for s, m in self.published):  # fmt: skip
            return None
        return await self.publish(stream, message)

    def on(self, stream: str) -> list[BaseModel]:
        return [message for s, message in self.published if s == stream]


class World:
    def __init__(self) -> None:
        self.tasks, self.workers, self.publisher = FakeTasks(), FakeWorkers(), FakePublisher()
        self.lease = FakeLease()

    async def run(self, fence: int = 7) -> Summary:
        self.lease.fence = fence
        return await find_stale_work(
            self.lease,
            tasks=self.tasks,
            workers=self.workers,
            publisher=self.publisher,
            stale_task_after_s=4 * HOUR.total_seconds(),
            worker_orphan_after_s=HOUR.total_seconds(),
            clock=lambda: NOON,
        )

    def stale(self) -> list[StaleTask]:
        return [m for m in self.publisher.on("tasks:stale") if isinstance(m, StaleTask)]

    def deleted(self) -> list[DeleteWorkerCommand]:
        return [
            m for m in self.publisher.on("worker:commands") if isinstance(m, DeleteWorkerCommand)
        ]


@pytest.fixture
def world() -> World:
    return World()


async def test_each_old_open_task_is_handed_to_its_flow_at_every_run(world: World) -> None:
    running = task(TaskStatus.RUNNING, changed=5 * HOUR)
    queued = task(TaskStatus.QUEUED, changed=6 * HOUR, kind=TaskType.DEPLOY)
    world.tasks.add(running, queued, task(TaskStatus.RUNNING, changed=3 * HOUR))

    first = await world.run(fence=7)
    second = await world.run(fence=8)

    assert first["stale_tasks"] == second["stale_tasks"] == 2
    assert first["open_tasks"] == 3
    handed = [(m.request_id, m.task_type) for m in world.stale()]
    assert sorted(handed) == sorted(
        [(f"{t.id}.stale.{fence}", t.type) for t in (running, queued) for fence in (7, 8)]
    )
    reasons = {m.task_id: m.reason for m in world.stale()}
    assert reasons[running.id].startswith("running, unchanged for 5 h")
    assert reasons[queued.id].startswith("queued, unchanged for 6 h")
    assert {m.correlation_id for m in world.stale()} == {"stale_work.7", "stale_work.8"}


async def test_an_ended_task_is_never_handed_over(world: World) -> None:
    world.tasks.add(*(task(status, changed=9 * HOUR) for status in
                      (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)))  # fmt: skip

    summary = await world.run()

    assert summary["stale_tasks"] == 0
    assert world.stale() == []


async def test_a_developer_worker_whose_task_ended_long_ago_is_deleted_once_for_all_runs(
    world: World,
) -> None:
    ended = task(TaskStatus.CANCELLED, changed=2 * HOUR)
    world.tasks.add(ended)
    world.workers.live = [worker("developer-1", started=3 * HOUR, task_id=ended.id)]

    first = await world.run(fence=7)
    second = await world.run(fence=8)

    [command] = world.deleted()
    assert command.worker_id == "developer-1"
    assert command.reply_to is WorkerType.DEVELOPER
    assert command.request_id == "stale_work.delete.developer-1"
    assert (first["orphan_workers"], first["workers_deleted"]) == (1, 1)
    assert (second["orphan_workers"], second["workers_deleted"]) == (1, 0)


async def test_workers_still_needed_or_not_a_developers_are_left_alone(world: World) -> None:
    running = task(TaskStatus.RUNNING, changed=30 * HOUR)
    just_ended = task(TaskStatus.COMPLETED, changed=HOUR / 2)
    world.tasks.add(running, just_ended)
    world.workers.live = [
        worker("developer-busy", started=30 * HOUR, task_id=running.id),
        worker("developer-just-done", started=3 * HOUR, task_id=just_ended.id),
        worker("developer-young", started=HOUR / 2),
        worker("po-1", started=300 * HOUR, kind=WorkerType.PO),
    ]

    summary = await world.run()

    assert world.deleted() == []
    assert summary["orphan_workers"] == 0
    # The open task was known from the run's listing: only the ended one is asked for.
    assert world.tasks.asked_one_by_one == [just_ended.id]


async def test_a_worker_whose_task_does_not_exist_or_that_has_none_is_deleted_once_old(
    world: World,
) -> None:
    world.workers.live = [
        worker("developer-gone", started=2 * HOUR, task_id="f" * 32),
        worker("developer-taskless", started=2 * HOUR),
    ]

    summary = await world.run()

    assert sorted(c.worker_id for c in world.deleted()) == ["developer-gone", "developer-taskless"]
    assert summary["workers_deleted"] == 2


async def test_a_worker_naming_no_task_id_is_skipped_and_the_others_still_judged(
    world: World,
) -> None:
    ended = task(TaskStatus.FAILED, changed=2 * HOUR)
    world.tasks.add(ended)
    world.workers.live = [
        worker("developer-garbled", started=9 * HOUR, task_id="../../api/users"),
        worker("developer-1", started=3 * HOUR, task_id=ended.id),
    ]

    await world.run()

    assert [c.worker_id for c in world.deleted()] == ["developer-1"]
    assert "../../api/users" not in world.tasks.asked_one_by_one


async def test_a_run_that_lost_its_lease_writes_nothing_more(world: World) -> None:
    world.tasks.add(task(TaskStatus.RUNNING, changed=5 * HOUR),
                    task(TaskStatus.RUNNING, changed=6 * HOUR))  # fmt: skip
    world.lease.lost_after = 1

    with pytest.raises(LeaseLost):
        await world.run()

    assert len(world.stale()) == 1
