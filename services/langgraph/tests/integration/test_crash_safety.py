"""kill -9 at every step: the service kills itself (SIGKILL) at a crash point — before a publish,
after one, after a wait is checkpointed — and is started again, over and over, until the flow
ends. Every flow still finishes, and nothing is asked twice: one repository, one worker per
stage, one deploy, one task execution per worker run. With two replicas, killing one leaves the
other to finish every flow."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from api.testing import LiveApi
from langgraph_testing import TERMINAL, Api, Langgraph, deploy, engineering, entries, flow_status
from redis.asyncio import Redis
from shared.contracts import CreateWorkerCommand, DeveloperWorkerInput, DeveloperWorkerOutput
from shared.testing.stage_fakes import FakeStages, commit_of, developed
from shared.testing.waiting import eventually

pytestmark = pytest.mark.timeout(300)

CRASHES_AT_MOST = 60


async def run_through_crashes(
    langgraph: Langgraph, redis: Redis, task_id: str, crash_at: Callable[[int], str]
) -> int:
    """Start the service, and again each time it dies at its crash point, until the task's
    final progress event is out; then kill it once more (its crash point may be just ahead)
    and start it without one, so the flow's own record can end. The number of crashes."""
    crashes = 0
    # One process at a time: what a dead one held can be taken on at once.
    quick = {"claim_idle_s": 0.5, "stalled_after_s": 0.5}
    langgraph.start(crash_at=crash_at(1), **quick)

    async def ended_or_died() -> str | None:
        progress = await entries(redis, f"task_progress:{task_id}")
        if progress and progress[-1].get("type") in ("completed", "failed"):
            return "ended"
        return "died" if not langgraph.running() else None

    while await eventually(ended_or_died, 60) == "died":
        crashes += 1
        assert crashes <= CRASHES_AT_MOST, "the flow makes no progress between crashes"
        langgraph.start(crash_at=crash_at(crashes + 1), **quick)
    if langgraph.running():
        langgraph.kill()
    langgraph.start(**quick)
    return crashes


async def finished_for_good(live_api: LiveApi, task_id: str) -> None:
    async def done() -> bool:
        return await flow_status(live_api.database_url, task_id) == "done"

    await eventually(done, 60)


def assert_nothing_asked_twice(stages: FakeStages) -> None:
    for stream, requests in stages.seen.items():
        repeated = [r for r, n in Counter(m.request_id for m in requests).items() if n > 1]
        assert not repeated, f"{stream}: asked twice: {repeated}"


async def assert_each_event_once(redis: Redis, task_id: str) -> list[dict[str, Any]]:
    progress = await entries(redis, f"task_progress:{task_id}")
    repeated = [r for r, n in Counter(p["request_id"] for p in progress).items() if n > 1]
    assert not repeated, f"progress events published twice: {repeated}"
    return progress


@pytest.mark.parametrize(
    ("point", "crash_at"),
    [
        ("after each publish", lambda n: "after_publish:1"),
        ("after each wait is checkpointed", lambda n: "after_checkpoint:1"),
        # Before the nth publish: the process before got one publish further.
        ("before each publish", lambda n: f"before_publish:{n}"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_an_engineering_flow_killed_at_every_step_finishes_once(
    point: str,
    crash_at: Callable[[int], str],
    langgraph: Langgraph,
    stages: FakeStages,
    api: Api,
    live_api: LiveApi,
    redis_client: Redis,
) -> None:
    project = await api.project("todo")  # no repository: the flow scaffolds it first
    task_id = await api.task(project, "engineering")
    await engineering(redis_client, api, project, task_id)

    crashes = await run_through_crashes(langgraph, redis_client, task_id, crash_at)
    await finished_for_good(live_api, task_id)

    assert crashes >= 5, f"the crash point {point} was hardly reached"
    task = await api.get(f"/api/tasks/{task_id}")
    assert (task["status"], task["result"]["commit_sha"]) == ("completed", commit_of(task_id, 1))
    assert_nothing_asked_twice(stages)
    assert len(stages.of("scaffolder:queue")) == 1
    creates = [c for c in stages.of("worker:commands") if isinstance(c, CreateWorkerCommand)]
    assert len(creates) == 2
    assert len(stages.runs()) == 2
    executions = await api.get("/api/task-executions", task_id=task_id)
    assert sorted(e["request_id"] for e in executions) == [
        f"{task_id}.a1.develop", f"{task_id}.a1.test",
    ]  # fmt: skip
    progress = await assert_each_event_once(redis_client, task_id)
    assert [p["status"] for p in progress if p["kind"] == "engineering_result"] == ["success"]
    project = await api.get(f"/api/projects/{project['id']}")
    assert (project["status"], project["commit_sha"]) == ("ready", commit_of(task_id, 1))


async def test_a_deploy_killed_after_each_publish_deploys_once_and_checks_the_url(
    langgraph: Langgraph,
    stages: FakeStages,
    api: Api,
    live_api: LiveApi,
    redis_client: Redis,
    site: str,
) -> None:
    await api.server("local")
    project = await api.tested_project("todo", "ab" * 20)
    task_id = await api.task(project, "deploy", spec="")
    await deploy(redis_client, project, task_id)

    crashes = await run_through_crashes(
        langgraph, redis_client, task_id, lambda n: "after_publish:1"
    )
    await finished_for_good(live_api, task_id)

    assert crashes >= 3
    task = await api.get(f"/api/tasks/{task_id}")
    assert (task["status"], task["result"]["deployed_url"]) == ("completed", site)
    assert len(stages.of("ansible:deploy:queue")) == 1
    assert len(await api.get("/api/port-allocations", project_id=project["id"])) == 1
    progress = await assert_each_event_once(redis_client, task_id)
    assert [p["status"] for p in progress if p["kind"] == "deploy_result"] == ["success"]


async def test_with_two_replicas_killing_one_leaves_the_other_to_finish_every_flow(
    langgraph: Langgraph, stages: FakeStages, api: Api, live_api: LiveApi, redis_client: Redis
) -> None:
    held: list[DeveloperWorkerInput] = []
    release = asyncio.Event()

    async def developer_waits_for_release(message: DeveloperWorkerInput) -> DeveloperWorkerOutput:
        held.append(message)
        await release.wait()
        return developed(message)

    stages.developer = developer_waits_for_release
    first = langgraph.start(consumer_name="langgraph-1")
    langgraph.start(consumer_name="langgraph-2")
    tasks = []
    for n in range(6):
        project = await api.scaffolded_project(f"app{n}")
        tasks.append(await api.task(project, "engineering"))
        await engineering(redis_client, api, project, tasks[-1])

    async def all_developing() -> bool:
        statuses = [await flow_status(live_api.database_url, t) for t in tasks]
        return len(held) >= 1 and statuses == ["waiting"] * len(tasks)

    await eventually(all_developing, 60)
    langgraph.kill(first)
    release.set()

    for task_id in tasks:
        task = await api.finished(task_id, within=90)
        assert task["status"] == "completed", task
        assert task["result"]["commit_sha"] == commit_of(task_id, 1)
    assert_nothing_asked_twice(stages)
    assert {t["status"] for t in [await api.get(f"/api/tasks/{t}") for t in tasks]} <= TERMINAL
