"""Stale work end to end: the scheduler as a real process, the real API and Redis. A task open long
after its last change is handed to its flow on `tasks:stale` at every run (never closed by the
scheduler); a developer worker whose task ended long ago is deleted through worker-manager, once.
Tasks are made old by moving their times back in the API's database: no test waits for hours."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
import pytest_asyncio
from api.testing import LiveApi
from redis.asyncio import Redis
from scheduler_testing import SchedulerProcess, runs, scheduler_settings, wait_for_runs
from shared.contracts import DeleteWorkerCommand, JobOutcome, StaleTask, WorkerType

pytestmark = pytest.mark.timeout(120)

JOB = "stale_work"
HOUR = timedelta(hours=1)


class Api:
    """The API as the test arranges it: a service's key, and the database to age tasks in."""

    def __init__(self, client: httpx.AsyncClient, live: LiveApi) -> None:
        self.client, self.live = client, live
        self.project_id = ""

    async def task(self, *statuses: str) -> str:
        if not self.project_id:
            body = {"name": "todo", "modules": ["backend"], "owner_id": self.live.admin_user_id}
            response = await self.client.post("/api/projects", json=body)
            assert response.status_code == 201, response.text
            self.project_id = response.json()["id"]
        body = {"project_id": self.project_id, "type": "engineering", "spec": "Add /hello"}
        response = await self.client.post("/api/tasks", json=body)
        assert response.status_code == 201, response.text
        task_id = str(response.json()["id"])
        for status in statuses:
            response = await self.client.patch(f"/api/tasks/{task_id}", json={"status": status})
            assert response.status_code == 200, response.text
        return task_id

    async def status(self, task_id: str) -> str:
        response = await self.client.get(f"/api/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    async def age(self, task_id: str, by: timedelta) -> None:
        """The task's last change (and its end, if it ended) `by` earlier than they were."""
        async with await psycopg.AsyncConnection.connect(self.live.database_url) as connection:
            await connection.execute(
                """update tasks set updated_at = updated_at - %(by)s,
                       finished_at = finished_at - %(by)s where id = %(id)s""",
                {"by": by, "id": task_id},
            )


@pytest_asyncio.fixture
async def api(live_api: LiveApi) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as client:
        yield Api(client, live_api)


class Scheduler:
    """The scheduler with only stale work on, every half second; stopped at the end either way."""

    def __init__(self, redis_url: str, live_api: LiveApi, log: Path) -> None:
        self.settings = scheduler_settings(
            redis_url=redis_url,
            api_url=live_api.url,
            api_key=live_api.service_key,
            stale_work_interval_s=0.5,
            stale_task_after_s=HOUR.total_seconds(),
            worker_orphan_after_s=HOUR.total_seconds(),
        )
        self.log = log
        self.process: SchedulerProcess | None = None

    def start(self) -> None:
        self.process = SchedulerProcess(self.settings, self.log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def scheduler(redis_url: str, live_api: LiveApi, tmp_path: Path) -> Iterator[Scheduler]:
    service = Scheduler(redis_url, live_api, tmp_path / "scheduler.log")
    try:
        yield service
    finally:
        service.stop()


async def stale_tasks(redis: Redis) -> list[StaleTask]:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange("tasks:stale"))
    return [StaleTask.model_validate(json.loads(fields["data"])) for _, fields in entries]


async def deletes(redis: Redis) -> list[DeleteWorkerCommand]:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange("worker:commands"))
    return [DeleteWorkerCommand.model_validate(json.loads(fields["data"])) for _, fields in entries]


async def a_worker(redis: Redis, worker_id: str, *, started: timedelta, **fields: str) -> None:
    """A worker as worker-manager records it (`worker:status:{id}`, `workers:live`)."""
    at = (datetime.now(UTC) - started).isoformat()
    record: dict[Any, str] = {
        "worker_id": worker_id,
        "worker_type": "developer",
        "state": "RUNNING",
        "started_at": at,
        "updated_at": at,
        "last_active_at": at,
        "handle": "4242",
        "created_by": "request-1",
        "current_task_id": "",
        "project_id": "",
    }
    await redis.hset(f"worker:status:{worker_id}", mapping=record | fields)
    await redis.sadd("workers:live", worker_id)


async def test_an_old_open_task_is_handed_to_its_flow_once_per_run_and_a_fresh_one_never(
    scheduler: Scheduler, api: Api, redis_client: Redis
) -> None:
    old = await api.task("running")
    old_queued = await api.task()
    fresh = await api.task("running")
    ended = await api.task("running", "completed")
    for task_id in (old, old_queued, ended):
        await api.age(task_id, 2 * HOUR)

    scheduler.start()
    await wait_for_runs(redis_client, JOB, 3)
    scheduler.stop()
    history = await runs(redis_client, JOB)
    handed = await stale_tasks(redis_client)

    assert all(run.outcome is JobOutcome.SUCCEEDED for run in history), history
    assert all(run.summary["stale_tasks"] == 2 for run in history), history
    assert sorted(message.request_id for message in handed) == sorted(
        f"{task_id}.stale.{run.fence}" for run in history for task_id in (old, old_queued)
    )
    by_task = {message.task_id: message for message in handed}
    assert set(by_task) == {old, old_queued}
    assert by_task[old].task_type == "engineering"
    assert by_task[old].reason.startswith("running, unchanged for 2 h")
    assert by_task[old_queued].reason.startswith("queued, unchanged for 2 h")
    # The flow decides: the scheduler closes nothing.
    assert [await api.status(t) for t in (old, old_queued, fresh)] == [
        "running", "queued", "running"
    ]  # fmt: skip


async def test_a_developer_worker_whose_task_ended_long_ago_is_deleted_once(
    scheduler: Scheduler, api: Api, redis_client: Redis
) -> None:
    ended = await api.task("running", "failed")
    await api.age(ended, 2 * HOUR)
    just_ended = await api.task("running", "completed")
    running = await api.task("running")
    await a_worker(redis_client, "developer-orphan", started=3 * HOUR, current_task_id=ended)
    await a_worker(redis_client, "developer-taskless", started=2 * HOUR)
    await a_worker(redis_client, "developer-just-ended", started=2 * HOUR,
                   current_task_id=just_ended)  # fmt: skip
    await a_worker(redis_client, "developer-busy", started=3 * HOUR, current_task_id=running)
    await a_worker(redis_client, "developer-gone-task", started=10 * HOUR,
                   current_task_id="0" * 32)  # fmt: skip
    await a_worker(redis_client, "po-someone", started=48 * HOUR, worker_type="po")
    await a_worker(redis_client, "developer-garbled", started=3 * HOUR, state="SLEEPWALKING")

    scheduler.start()
    await wait_for_runs(redis_client, JOB, 3)
    scheduler.stop()
    history = await runs(redis_client, JOB)
    commands = await deletes(redis_client)

    assert all(run.outcome is JobOutcome.SUCCEEDED for run in history), history
    assert sorted(command.worker_id for command in commands) == [
        "developer-gone-task", "developer-orphan", "developer-taskless"
    ]  # fmt: skip
    assert all(command.reply_to is WorkerType.DEVELOPER for command in commands)
    assert {command.request_id for command in commands} == {
        f"stale_work.delete.{command.worker_id}" for command in commands
    }
    assert history[0].summary["workers_deleted"] == 3
    assert all(run.summary["workers_deleted"] == 0 for run in history[1:]), history
    assert await api.status(ended) == "failed"
