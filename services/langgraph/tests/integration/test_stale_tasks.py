"""Stale tasks (`tasks:stale`, from the scheduler): a task open long after any of its stages could
have ended goes down its flow's own timeout path. The service is a real process with the real
API, Redis and Postgres; the stage services are instant stand-ins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import pytest
from langgraph_testing import Api, Langgraph, engineering, entries, flow_status
from psycopg import sql
from redis.asyncio import Redis
from shared.contracts import EngineeringMessage, StaleTask, TaskType
from shared.streams import RedisStreamPublisher
from shared.streams.registry import Group
from shared.testing.stage_fakes import FakeStages
from shared.testing.waiting import eventually

pytestmark = pytest.mark.timeout(120)

STALE = "tasks:stale"
REASON = "running, unchanged for 5 h"


class Withheld:
    """A stage that reads its requests and answers none of them."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, message: Any) -> None:
        self.requests.append(message)

    async def first(self, within: float = 30) -> Any:
        async def read() -> list[Any]:
            return self.requests

        return (await eventually(read, within))[0]


async def report_stale(redis: Redis, task_id: str, kind: str = "engineering") -> None:
    """Hand the task over as the scheduler does, and wait until the service has handled it."""
    entry = await RedisStreamPublisher(redis).publish(
        STALE,
        StaleTask(
            request_id=f"{task_id}.stale.1", task_id=task_id, task_type=TaskType(kind),
            reason=REASON,
        ),
    )  # fmt: skip

    async def handled() -> bool:
        groups = await redis.xinfo_groups(STALE)
        group = next((g for g in groups if g["name"] == Group.LANGGRAPH), None)
        return (
            group is not None
            and group["pending"] == 0
            and _entry_order(str(group["last-delivered-id"])) >= _entry_order(entry)
        )

    await eventually(handled, 30)


def _entry_order(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


async def results(redis: Redis, task_id: str, kind: str) -> list[dict[str, Any]]:
    return [p for p in await entries(redis, f"task_progress:{task_id}") if p["kind"] == kind]


async def wait_deadline(database_url: str, thread_id: str) -> datetime:
    query = sql.SQL("select deadline from {}.flows where thread_id = %s")
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(query.format(sql.Identifier("langgraph")), (thread_id,))
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] is not None
    return cast(datetime, row[0])


async def test_a_running_task_with_no_flow_fails_with_the_reason_and_its_person_hears(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    langgraph.start()
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")
    response = await api.client.patch(f"/api/tasks/{task_id}", json={"status": "running"})
    assert response.status_code == 200, response.text

    await report_stale(redis_client, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "failed"
    assert REASON in task["error"]
    [result] = await results(redis_client, task_id, "engineering_result")
    assert result["status"] == "failed"
    assert REASON in result["error"]
    assert [event["type"] for event in await results(redis_client, task_id, "progress")] == [
        "failed"
    ]
    assert (await api.get(f"/api/projects/{project['id']}"))["status"] == "scaffolded"
    assert await flow_status(api.live.database_url, task_id) == "done"
    assert stages.of("worker:commands") == []

    # Handed over again (the scheduler's next run, read before the task closed): nothing more.
    await report_stale(redis_client, task_id)
    assert len(await results(redis_client, task_id, "engineering_result")) == 1


async def test_a_task_whose_flow_ended_without_closing_it_fails_and_its_person_hears(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    langgraph.start()
    project = await api.scaffolded_project("todo")
    other = await api.scaffolded_project("other")
    task_id = await api.task(project, "engineering")
    # An intent naming another project than the task's is rejected: its thread ends, writing
    # nothing, and the task stays queued. Its callback stream is a stranger's.
    stranger = "task_progress:" + "e" * 32
    await RedisStreamPublisher(redis_client).publish(
        "engineering:queue",
        EngineeringMessage(task_id=task_id, project_id=other["id"], user_id=other["owner_id"],
                           callback_stream=stranger),
    )  # fmt: skip

    async def rejected() -> bool:
        return await flow_status(api.live.database_url, task_id) == "done"

    await eventually(rejected, 30)
    await report_stale(redis_client, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "failed"
    assert REASON in task["error"]
    assert "ended without closing it" in task["error"]
    [result] = await results(redis_client, task_id, "engineering_result")
    assert result["status"] == "failed"
    assert await entries(redis_client, stranger) == []
    assert (await api.get(f"/api/projects/{project['id']}"))["status"] == "scaffolded"
    assert (await api.get(f"/api/projects/{other['id']}"))["status"] == "scaffolded"


async def test_a_task_whose_flow_waits_for_a_deadline_still_to_come_is_left_to_it(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    developer = Withheld()
    stages.developer = developer
    langgraph.start()
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")
    await engineering(redis_client, api, project, task_id)
    await developer.first()

    await report_stale(redis_client, task_id)

    assert (await api.get(f"/api/tasks/{task_id}"))["status"] == "running"
    assert await flow_status(api.live.database_url, task_id) == "waiting"
    assert await results(redis_client, task_id, "engineering_result") == []
    assert len(developer.requests) == 1


async def test_a_task_whose_wait_is_past_its_deadline_is_timed_out_at_once(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    developer = Withheld()
    stages.developer = developer
    # The sweeper looks once at start-up and then not for an hour: only the stale task can end
    # the wait.
    langgraph.start(develop_timeout_s=1, result_margin_s=0, max_attempts=1, sweep_interval_s=3600)
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")
    await engineering(redis_client, api, project, task_id)
    await developer.first()
    deadline = await wait_deadline(api.live.database_url, task_id)

    async def deadline_passed() -> bool:
        return datetime.now(UTC) > deadline

    await eventually(deadline_passed, 30)
    await report_stale(redis_client, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "failed"
    assert "the developer worker did not answer within 1 s" in task["error"]
    [execution] = await api.get("/api/task-executions", task_id=task_id)
    assert execution["status"] == "timeout"


async def test_a_stale_task_that_ended_meanwhile_changes_nothing(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    langgraph.start()
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")
    await api.cancel(task_id)
    before = await api.get(f"/api/tasks/{task_id}")

    await report_stale(redis_client, task_id)
    await report_stale(redis_client, "0" * 32)

    assert await api.get(f"/api/tasks/{task_id}") == before
    assert await entries(redis_client, f"task_progress:{task_id}") == []
    assert await flow_status(api.live.database_url, task_id) is None
    assert await redis_client.exists(f"{STALE}:dlq") == 0


async def test_a_stale_task_no_flow_could_have_is_dead_lettered_and_the_next_one_handled(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    langgraph.start()
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")
    await redis_client.xadd(STALE, {"data": '{"task_id": "x", "task_type": "mystery"}'})
    await redis_client.xadd(
        STALE, {"data": StaleTask(task_id="a.b", task_type=TaskType.DEPLOY,
                                  reason=REASON).model_dump_json()},
    )  # fmt: skip

    await report_stale(redis_client, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "failed"
    letters = await entries(redis_client, f"{STALE}:dlq")
    assert [letter["reason"] for letter in letters] == ["invalid", "permanent_failure"]
