"""The first whole journey: a task on a new project goes from the queue to a commit whose tests
really pass, then to a live URL. Every service is a real process — API, langgraph,
scaffolder, worker-manager (process backend) with worker-wrapper and the scripted agent,
infra-service on the `local` target — with the real Redis and Postgres. Nothing is told what
app it builds: the agent's script is the only author.

The script makes three attempts of one task: the first is killed mid-run (a worker crash), the
second commits a test its code does not pass (the tester really runs pytest at that commit and
fails it), the third makes it pass; then a deploy serves the commit and the URL answers: the
route the agent wrote, and the template's health path (what the deploy's smoke check asked)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from infra_service.config import InfraSettings
from infra_testing import ServiceProcess as InfraProcess
from infra_testing import local_deploy_root
from langgraph_testing import Api, Langgraph, deploy, engineering, entries, fast_settings
from manager_testing import ManagerProcess, kill_workers, manager_env, worker_ids
from redis.asyncio import Redis
from scaffolder.config import ScaffolderSettings
from shared.keys import WORKERS_LIVE
from shared.testing import processes
from shared.testing.processes import settings_env
from shared.testing.waiting import eventually

SCAFFOLDER = str(Path(sys.executable).parent / "scaffolder")

HELLO_TEST = """from fastapi.testclient import TestClient

from app.main import app


def test_hello_greets_the_world() -> None:
    answer = TestClient(app).get("/hello")
    assert answer.status_code == 200
    assert answer.json() == {"hello": "world"}
"""

HELLO_ROUTE = """

@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
"""


def agent_script(workdir: Path) -> Path:
    """The scripted developer: each attempt counts itself in a file outside the repository;
    the first sleeps until it is killed, every one writes the test, the third also the route."""
    attempts, route = workdir / "attempts", workdir / "hello_route.py"
    route.write_text(HELLO_ROUTE)
    count = (
        f"n=$(( $(cat {attempts} 2>/dev/null || echo 0) + 1 )); echo $n > {attempts}; "
        f'if [ "$n" = 1 ]; then sleep 600; fi; '
        f'if [ "$n" -ge 3 ]; then cat {route} >> backend/app/main.py; fi'
    )
    turn = {
        "steps": [
            {"run": count},
            {"write": {"path": "backend/tests/test_hello.py", "content": HELLO_TEST}},
            {"run": "git add -A && git commit -qm 'Add /hello'"},
        ],
        "reply": "Added /hello.",
        "verdict": {"status": "success", "summary": "added /hello", "data": {}},
    }
    script = workdir / "developer.json"
    script.write_text(json.dumps({"turns": [turn]}))
    return script


@pytest_asyncio.fixture
async def api(live_api: LiveApi) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as client:
        yield Api(client, live_api)


@pytest.fixture
def services(
    live_api: LiveApi, redis_url: str, tmp_path: Path
) -> Iterator[dict[str, processes.ServiceProcess]]:
    """scaffolder and worker-manager (its workers run the scripted agent), stopped at the end
    with every worker they left."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    scaffolder_settings = ScaffolderSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=tmp_path / "scaffolder",
    )
    scaffolder = processes.ServiceProcess(
        [SCAFFOLDER], env | settings_env(scaffolder_settings), tmp_path / "scaffolder.log"
    )
    manager = ManagerProcess(
        manager_env(
            redis_url, tmp_path / "workers",
            api_url=live_api.url, api_key=live_api.service_key,
            monitor_interval_s=0.5, worker_env_passthrough="SCRIPTED_AGENT_SCRIPT",
        ) | {"SCRIPTED_AGENT_SCRIPT": str(agent_script(tmp_path))},
        tmp_path / "worker-manager.log",
    )  # fmt: skip
    try:
        yield {"scaffolder": scaffolder, "worker-manager": manager}
    finally:
        manager.stop()
        scaffolder.stop()


@pytest_asyncio.fixture
async def infra(live_api: LiveApi, redis_url: str, tmp_path: Path) -> AsyncIterator[Path]:
    async with local_deploy_root() as root:
        service = InfraProcess(
            InfraSettings(
                redis_url=redis_url, api_url=live_api.url, api_key=live_api.service_key,
                data_dir=tmp_path / "infra", local_deploy_root=root,
                health_timeout_s=120, job_timeout_s=600,
            ),
            tmp_path / "infra-service.log",
        )  # fmt: skip
        service.start()
        try:
            yield root
        finally:
            await asyncio.to_thread(service.stop)


@pytest.mark.slow("three attempts with real workers, pytest at two commits, a real deploy")
@pytest.mark.timeout(900)
async def test_a_task_goes_from_the_queue_through_a_crash_and_a_failing_test_to_a_live_url(
    services: dict[str, processes.ServiceProcess],
    infra: Path,
    live_api: LiveApi,
    redis_url: str,
    redis_client: Redis,
    api: Api,
    tmp_path: Path,
) -> None:
    langgraph = Langgraph(
        fast_settings(
            live_api, redis_url, tester_agent="scripted", max_attempts=3,
            develop_timeout_s=600, test_timeout_s=600, smoke_attempts=20,
        ),
        tmp_path / "langgraph.log",
    )  # fmt: skip
    try:
        langgraph.start()
        await api.server("local")
        project = await api.project("greeter")
        task_id = await api.task(project, "engineering", spec="Add GET /hello answering hello.")
        await engineering(redis_client, api, project, task_id)

        first = await _worker_of(redis_client, f"{task_id}.a1.develop.create")
        await _agent_counted(tmp_path / "attempts", 1)
        kill_workers([first])  # the worker dies mid-run, its agent with it
        task = await api.finished(task_id, within=600)

        assert task["status"] == "completed", task
        assert task["result"]["attempts"] == 3
        runs = {e["request_id"]: e for e in await api.get("/api/task-executions",
                                                           task_id=task_id)}  # fmt: skip
        assert runs[f"{task_id}.a1.develop"]["status"] != "success"
        assert runs[f"{task_id}.a2.test"]["status"] == "failed"
        assert "test_hello_greets_the_world" in runs[f"{task_id}.a2.test"]["result"]["output_tail"]
        assert runs[f"{task_id}.a3.test"]["status"] == "success"
        retries = [p for p in await entries(redis_client, f"task_progress:{task_id}")
                   if p.get("current_step", "").endswith(".retry")]  # fmt: skip
        assert "test_hello_greets_the_world" in retries[-1]["error"]
        commit = task["result"]["commit_sha"]
        assert (await api.get(f"/api/projects/{project['id']}"))["commit_sha"] == commit

        deploy_id = await api.task(project, "deploy", spec="")
        await deploy(redis_client, project, deploy_id)
        deployed = await api.finished(deploy_id, within=600)

        assert deployed["status"] == "completed", deployed
        assert deployed["result"]["commit_sha"] == commit
        url = deployed["result"]["deployed_url"].rstrip("/")
        async with httpx.AsyncClient(timeout=10) as client:
            hello = await client.get(f"{url}/hello")
            health = await client.get(f"{url}/health")
        assert (hello.status_code, hello.json()) == (200, {"hello": "world"})
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        # The URL smoke-checked is the health path the rendered .project.yml declares.
        [infra_result] = [r for r in await entries(redis_client, "deploy:results")
                          if r["request_id"] == f"{deploy_id}.deploy"]  # fmt: skip
        assert infra_result["health_url"] == f"{url}/health"
        assert (await api.get(f"/api/projects/{project['id']}"))["status"] == "active"
        await _all_workers_gone(redis_client)
    finally:
        langgraph.stop()
        kill_workers(await worker_ids(redis_client))


async def _worker_of(redis: Redis, create_request: str) -> str:
    async def created() -> str | None:
        for answer in await entries(redis, "worker:responses:developer"):
            if answer["request_id"] == create_request and answer["success"]:
                return str(answer["worker_id"])
        return None

    return await eventually(created, 120)


async def _agent_counted(attempts: Path, n: int) -> None:
    """The script's agent is running its nth attempt."""

    def read() -> str:
        return attempts.read_text().strip() if attempts.exists() else ""

    async def counted() -> bool:
        return await asyncio.to_thread(read) == str(n)

    await eventually(counted, 120)


async def _all_workers_gone(redis: Redis) -> None:
    async def gone() -> bool:
        return await redis.scard(WORKERS_LIVE.name()) == 0

    await eventually(gone, 120)
