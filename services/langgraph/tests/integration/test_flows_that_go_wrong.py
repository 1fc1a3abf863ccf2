"""What a flow does when its world misbehaves: a task cancelled mid-stage, results that come
twice, late or for nobody, a result that never comes, a worker that cannot succeed. The service
is a real process with the real API, Redis and Postgres; the stage services are instant
stand-ins (shared.testing.stage_fakes) told to misbehave."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph_testing import Api, Langgraph, deploy, engineering, entries
from redis.asyncio import Redis
from shared.contracts import (
    AnsibleDeployMessage,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    EngineeringMessage,
    OutcomeStatus,
    WorkMode,
)
from shared.streams import RedisStreamPublisher
from shared.streams.registry import Group
from shared.testing.stage_fakes import FakeStages, commit_of, developed
from shared.testing.waiting import eventually

pytestmark = pytest.mark.timeout(120)

RESULT_STREAMS = (
    "scaffolder:results", "worker:responses:developer", "worker:developer:output", "deploy:results"
)  # fmt: skip


class Withheld:
    """A stage that reads its requests and answers none of them until told to."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, message: Any) -> None:
        self.requests.append(message)

    async def first(self, within: float = 30) -> Any:
        async def read() -> list[Any]:
            return self.requests

        return (await eventually(read, within))[0]


async def results(redis: Redis, task_id: str, kind: str) -> list[dict[str, Any]]:
    async def final() -> list[dict[str, Any]]:
        return [p for p in await entries(redis, f"task_progress:{task_id}") if p["kind"] == kind]

    return await eventually(final, 30)


async def nothing_pending(redis: Redis) -> None:
    """Every result the service read is acknowledged."""

    async def acknowledged() -> bool:
        for stream in RESULT_STREAMS:
            if (await redis.xpending(stream, Group.LANGGRAPH))["pending"]:
                return False
        return True

    await eventually(acknowledged, 30)


async def test_a_task_cancelled_while_its_developer_works_stops_and_deletes_the_worker(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    developer = Withheld()
    stages.developer = developer
    langgraph.start()
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")
    await engineering(redis_client, api, project, task_id)
    working: DeveloperWorkerInput = await developer.first()

    await api.cancel(task_id)

    async def worker_deleted() -> list[DeleteWorkerCommand]:
        return [c for c in stages.of("worker:commands") if isinstance(c, DeleteWorkerCommand)]

    [delete] = await eventually(worker_deleted, 30)
    assert delete.worker_id == "developer-fake-1"
    [result] = await results(redis_client, task_id, "engineering_result")
    assert result["status"] == "failed"
    assert "cancelled" in str(result["error"])
    task = await api.get(f"/api/tasks/{task_id}")
    assert task["status"] == "cancelled"
    [execution] = await api.get("/api/task-executions", task_id=task_id)
    assert execution["request_id"] == working.request_id
    assert execution["status"] == "failed"
    assert execution["finished_at"]
    assert (await api.get(f"/api/projects/{project['id']}"))["status"] == "scaffolded"
    assert len(developer.requests) == 1


async def test_a_worker_created_after_its_task_was_cancelled_is_deleted(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    worker_manager_answers = asyncio.Event()
    stages.hold_creates = worker_manager_answers
    langgraph.start()
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")
    await engineering(redis_client, api, project, task_id)

    async def create_asked() -> list[CreateWorkerCommand]:
        return [c for c in stages.of("worker:commands") if isinstance(c, CreateWorkerCommand)]

    await eventually(create_asked, 30)
    await api.cancel(task_id)
    [result] = await results(redis_client, task_id, "engineering_result")
    worker_manager_answers.set()  # the worker comes to life after its flow ended

    async def worker_deleted() -> list[DeleteWorkerCommand]:
        return [c for c in stages.of("worker:commands") if isinstance(c, DeleteWorkerCommand)]

    [delete] = await eventually(worker_deleted, 30)
    assert delete.worker_id == "developer-fake-1"
    assert "cancelled" in str(result["error"])
    assert stages.runs() == []
    await nothing_pending(redis_client)


async def test_a_deploy_cancelled_while_infra_works_leaves_the_project_ready(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    deployer = Withheld()
    stages.deployer = deployer
    await api.server("local")
    langgraph.start()
    project = await api.tested_project("todo", "ab" * 20)
    task_id = await api.task(project, "deploy", spec="")
    await deploy(redis_client, project, task_id)
    job: AnsibleDeployMessage = await deployer.first()
    assert (await api.get(f"/api/projects/{project['id']}"))["status"] == "deploying"

    await api.cancel(task_id)
    [result] = await results(redis_client, task_id, "deploy_result")

    assert result["status"] == "failed"
    assert result["deployed_url"] is None
    assert (await api.get(f"/api/projects/{project['id']}"))["status"] == "ready"
    assert job.request_id == f"{task_id}.deploy"


async def test_duplicate_late_and_stray_results_are_acknowledged_and_change_nothing(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    publisher = RedisStreamPublisher(redis_client)

    async def answers_twice_and_fails_the_first_tests(
        message: DeveloperWorkerInput,
    ) -> DeveloperWorkerOutput:
        if message.mode is WorkMode.TEST and message.attempt == 1:
            answer = DeveloperWorkerOutput(
                request_id=message.request_id, task_id=message.task_id,
                status=OutcomeStatus.FAILED, error="tests failed", exit_code=1,
            )  # fmt: skip
        else:
            answer = developed(message)
        await publisher.publish("worker:developer:output", answer)
        return answer  # the same result a second time

    stages.developer = answers_twice_and_fails_the_first_tests
    langgraph.start()
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")

    await engineering(redis_client, api, project, task_id)
    task = await api.finished(task_id)
    late = [
        # The first attempt's developer, once more, with another commit.
        DeveloperWorkerOutput(
            request_id=f"{task_id}.a1.develop",
            task_id=task_id,
            status=OutcomeStatus.SUCCESS,
            commit_sha="f" * 40,
        ),
        # A result for a thread that does not exist, and one for no thread at all.
        DeveloperWorkerOutput(
            request_id="no-such-task.a1.develop", task_id=task_id, status=OutcomeStatus.ERROR
        ),
        DeveloperWorkerOutput(request_id="stray", task_id=task_id, status=OutcomeStatus.ERROR),
    ]
    for result in late:
        await publisher.publish("worker:developer:output", result)
    await nothing_pending(redis_client)

    assert task["status"] == "completed"
    assert task["result"]["commit_sha"] == commit_of(task_id, 2)
    assert (await api.get(f"/api/tasks/{task_id}"))["result"] == task["result"]
    inputs = stages.runs()
    assert [(i.mode, i.attempt) for i in inputs] == [
        (WorkMode.DEVELOP, 1), (WorkMode.TEST, 1), (WorkMode.DEVELOP, 2), (WorkMode.TEST, 2),
    ]  # fmt: skip
    executions = await api.get("/api/task-executions", task_id=task_id)
    assert len(executions) == 4
    [final] = await results(redis_client, task_id, "engineering_result")
    assert final["commit_sha"] == commit_of(task_id, 2)


async def test_a_result_that_never_comes_times_the_attempt_out_and_the_next_one_runs(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    def lost_first_time(message: DeveloperWorkerInput) -> DeveloperWorkerOutput | None:
        if message.mode is WorkMode.DEVELOP and message.attempt == 1:
            return None  # the worker and its result are lost
        return developed(message)

    stages.developer = lost_first_time
    langgraph.start(develop_timeout_s=1, result_margin_s=0)
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")

    await engineering(redis_client, api, project, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "completed", task
    assert task["result"]["commit_sha"] == commit_of(task_id, 2)
    developing = [i for i in stages.runs() if i.mode is WorkMode.DEVELOP]
    assert "did not answer within 1 s" in (developing[1].previous_failure or "")
    executions = {e["request_id"]: e for e in await api.get("/api/task-executions",
                                                            task_id=task_id)}  # fmt: skip
    assert executions[f"{task_id}.a1.develop"]["status"] == "timeout"
    deleted = {c.worker_id for c in stages.of("worker:commands")
               if isinstance(c, DeleteWorkerCommand)}  # fmt: skip
    assert "developer-fake-1" in deleted


async def test_a_worker_that_says_no_attempt_can_succeed_fails_the_task_at_once(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    def repository_missing(message: DeveloperWorkerInput) -> DeveloperWorkerOutput:
        return DeveloperWorkerOutput(
            request_id=message.request_id, task_id=message.task_id, status=OutcomeStatus.ERROR,
            error="clone failed: repository not found", retryable=False,
        )  # fmt: skip

    stages.developer = repository_missing
    langgraph.start(max_attempts=3)
    project = await api.scaffolded_project("todo")
    task_id = await api.task(project, "engineering")

    await engineering(redis_client, api, project, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "failed"
    assert "repository not found" in task["error"]
    assert len(stages.runs()) == 1
    assert (await api.get(f"/api/projects/{project['id']}"))["status"] == "scaffolded"


async def test_intents_that_name_the_wrong_task_change_nothing(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    developer = Withheld()
    stages.developer = developer
    langgraph.start()
    project = await api.scaffolded_project("todo")
    other = await api.scaffolded_project("other")
    working = await api.task(project, "engineering")
    await engineering(redis_client, api, project, working)
    await developer.first()
    queued = await api.task(other, "engineering")
    publisher = RedisStreamPublisher(redis_client)
    owner = project["owner_id"]

    # A deploy for the engineering task that is running, an engineering intent for a task of
    # another project, and one for a task that does not exist.
    await deploy(redis_client, project, working)
    await publisher.publish(
        "engineering:queue",
        EngineeringMessage(task_id=queued, project_id=project["id"], user_id=owner),
    )
    await publisher.publish(
        "engineering:queue",
        EngineeringMessage(task_id="f" * 32, project_id=project["id"], user_id=owner),
    )

    async def dead_lettered() -> list[dict[str, Any]]:
        return await entries(redis_client, "deploy:queue:dlq")

    [letter] = await eventually(dead_lettered, 30)
    assert "runs a engineering flow" in str(letter)

    async def both_read() -> bool:
        pending = await redis_client.xpending("engineering:queue", Group.LANGGRAPH)
        return (
            pending["pending"] == 0 and len(await entries(redis_client, "engineering:queue")) == 3
        )

    await eventually(both_read, 30)
    assert (await api.get(f"/api/tasks/{queued}"))["status"] == "queued"
    assert (await api.get(f"/api/tasks/{working}"))["status"] == "running"
    assert await entries(redis_client, f"task_progress:{queued}") == []
    assert len(developer.requests) == 1
    assert stages.of("ansible:deploy:queue") == []
