"""langgraph-service as a real process with the real API, Redis and Postgres; the services it
delegates to are instant stand-ins (shared.testing.stage_fakes) that answer on the real streams,
so each test is about the flow: what it asks, in which order, and how it ends."""

from __future__ import annotations

import pytest
from langgraph_testing import Api, Langgraph, deploy, engineering, entries
from redis.asyncio import Redis
from shared.contracts import (
    CreateWorkerCommand,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    OutcomeStatus,
    WorkMode,
)
from shared.testing.stage_fakes import FakeStages, commit_of, developed
from shared.testing.waiting import eventually

pytestmark = pytest.mark.timeout(120)


async def test_a_task_on_a_new_project_is_scaffolded_developed_tested_and_closed(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    langgraph.start()
    project = await api.project("todo")
    task_id = await api.task(project, "engineering")

    await engineering(redis_client, api, project, task_id)
    task = await api.finished(task_id)

    commit = commit_of(task_id, 1)
    assert task["status"] == "completed", task
    assert task["result"]["commit_sha"] == commit
    inputs = stages.runs()
    assert [(i.mode, i.attempt) for i in inputs] == [(WorkMode.DEVELOP, 1), (WorkMode.TEST, 1)]
    assert inputs[0].repo_url == "/srv/repositories/todo.git"
    assert inputs[1].commit_sha == commit
    creates = [c for c in stages.of("worker:commands") if isinstance(c, CreateWorkerCommand)]
    assert len(creates) == 2
    # Each worker's forge token is limited to the project's repository.
    assert {c.context["repository"] for c in creates} == {"/srv/repositories/todo.git"}
    executions = await api.get("/api/task-executions", task_id=task_id)
    assert sorted(e["request_id"] for e in executions) == [
        f"{task_id}.a1.develop",
        f"{task_id}.a1.test",
    ]
    assert all(e["status"] == "success" and e["finished_at"] for e in executions)

    async def completed() -> list[dict[str, object]] | None:
        progress = await entries(redis_client, f"task_progress:{task_id}")
        return progress if progress[-1]["type"] == "completed" else None

    progress = await eventually(completed, 30)
    results = [p for p in progress if p["kind"] == "engineering_result"]
    assert [(r["status"], r["commit_sha"]) for r in results] == [("success", commit)]
    assert progress[0]["type"] == "started"
    assert progress[-1]["type"] == "completed"
    project = await api.get(f"/api/projects/{project['id']}")
    assert (project["status"], project["commit_sha"]) == ("ready", commit)


async def test_a_failing_test_run_sends_its_failure_to_the_next_attempt(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    def tests_fail_once(message: DeveloperWorkerInput) -> DeveloperWorkerOutput:
        if message.mode is WorkMode.TEST and message.attempt == 1:
            return DeveloperWorkerOutput(
                request_id=message.request_id,
                task_id=message.task_id,
                status=OutcomeStatus.FAILED,
                error="tests failed: backend: `pytest` exited 1",
                output_tail="FAILED test_hello.py::test_hello - assert 404 == 200",
                exit_code=1,
            )
        return developed(message)

    stages.developer = tests_fail_once
    langgraph.start()
    project = await api.project("todo", repository_url="/srv/repositories/todo.git")
    task_id = await api.task(project, "engineering")

    await engineering(redis_client, api, project, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "completed", task
    assert task["result"]["commit_sha"] == commit_of(task_id, 2)
    developing = [i for i in stages.runs() if i.mode is WorkMode.DEVELOP]
    assert [i.attempt for i in developing] == [1, 2]
    assert developing[0].previous_failure is None
    assert "assert 404 == 200" in (developing[1].previous_failure or "")
    assert stages.of("scaffolder:queue") == []


async def test_attempts_run_out_and_the_task_fails_with_the_last_failure(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis
) -> None:
    def agent_gives_up(message: DeveloperWorkerInput) -> DeveloperWorkerOutput:
        return DeveloperWorkerOutput(
            request_id=message.request_id,
            task_id=message.task_id,
            status=OutcomeStatus.ERROR,
            error=f"the agent crashed (attempt {message.attempt})",
            exit_code=137,
        )

    stages.developer = agent_gives_up
    langgraph.start(max_attempts=2)
    project = await api.project("todo", repository_url="/srv/repositories/todo.git")
    task_id = await api.task(project, "engineering")

    await engineering(redis_client, api, project, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "failed"
    assert "attempt 2" in task["error"]
    assert len(stages.runs()) == 2

    async def final_result() -> list[dict[str, object]]:
        return [p for p in await entries(redis_client, f"task_progress:{task_id}")
                if p["kind"] == "engineering_result"]  # fmt: skip

    [result] = await eventually(final_result, 30)
    assert result["status"] == "failed"
    assert "attempt 2" in str(result["error"])


async def test_a_deploy_ships_the_tested_commit_and_checks_the_live_url(
    langgraph: Langgraph, stages: FakeStages, api: Api, redis_client: Redis, site: str
) -> None:
    await api.server("local")
    langgraph.start()
    commit = "c0ffee" * 6 + "abcd"
    project = await api.tested_project("todo", commit)
    task_id = await api.task(project, "deploy", spec="")

    await deploy(redis_client, project, task_id)
    task = await api.finished(task_id)

    assert task["status"] == "completed", task
    assert task["result"]["deployed_url"] == site
    [job] = stages.of("ansible:deploy:queue")
    assert (job.commit_sha, job.task_id, job.request_id) == (commit, task_id, f"{task_id}.deploy")
    assert (await api.get(f"/api/projects/{project['id']}"))["status"] == "active"
    [allocation] = await api.get("/api/port-allocations", project_id=project["id"])
    assert (allocation["service_name"], allocation["port"]) == ("todo", job.port)

    async def final_result() -> list[dict[str, object]]:
        return [p for p in await entries(redis_client, f"task_progress:{task_id}")
                if p["kind"] == "deploy_result"]  # fmt: skip

    results = await eventually(final_result, 30)
    assert [(r["status"], r["deployed_url"]) for r in results] == [("success", site)]
