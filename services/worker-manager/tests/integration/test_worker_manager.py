"""worker-manager with the process backend: real worker processes, real Redis, the real API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest_asyncio
from api.testing import LiveApi
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    DeveloperWorkerInput,
    POWorkerInput,
    StatusWorkerCommand,
    WorkerConfig,
    WorkerState,
    WorkerType,
)
from shared.streams import RedisStreamPublisher
from shared.testing.waiting import eventually
from worker_manager.bootstrap import Container, bootstrap
from worker_manager.config import ManagerSettings
from worker_manager.main import serve

WRAPPER = str(Path(sys.executable).parent / "worker-wrapper")


async def entries(redis: Redis, stream: str) -> list[dict[str, Any]]:
    raw = cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
    return [json.loads(fields["data"]) for _, fields in raw]


class Harness:
    def __init__(self, deps: Container, redis: Redis, api: LiveApi, user_id: str, tmp: Path):
        self.deps, self.redis, self.api, self.user_id, self.tmp = deps, redis, api, user_id, tmp
        self.publisher = RedisStreamPublisher(redis)

    def script(self, *steps: dict[str, Any], reply: str = "ok") -> str:
        path = self.tmp / f"script-{len(list(self.tmp.glob('script-*')))}.json"
        path.write_text(
            json.dumps(
                {
                    "turns": [
                        {
                            "steps": list(steps),
                            "reply": reply,
                            "verdict": {"status": "success", "summary": "s"},
                        }
                    ]
                }
            )
        )
        return str(path)

    async def create(
        self, worker_type: WorkerType, script: str | None = None, request_id: str | None = None
    ) -> dict[str, Any]:
        env = {"SCRIPTED_AGENT_SCRIPT": script} if script else {}
        command = CreateWorkerCommand(
            config=WorkerConfig(
                name="w",
                worker_type=worker_type,
                agent_type=AgentType.SCRIPTED,
                allowed_commands="DEVELOPER",
                env_vars=env,
            ),
            context={"user_id": self.user_id, "task_id": "t-1"},
            **({"request_id": request_id} if request_id else {}),
        )
        stream = f"worker:responses:{worker_type.value}"
        before = len(await entries(self.redis, stream))
        await self.publisher.publish("worker:commands", command)
        responses = await eventually(lambda: _later(entries(self.redis, stream), before))
        first: dict[str, Any] = responses[0]
        return first

    async def state(self, worker_id: str) -> str | None:
        status = await self.deps.store.status(worker_id)
        return status.state if status else None

    async def reaches(self, worker_id: str, state: WorkerState, within: float = 30) -> None:
        async def check() -> bool:
            return await self.state(worker_id) == state

        await eventually(check, within)


async def _later(found: Awaitable[list[dict[str, Any]]], before: int) -> list[dict[str, Any]]:
    return (await found)[before:]


@pytest_asyncio.fixture
async def harness(
    live_api: LiveApi, redis_url: str, redis_client: Redis, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as api:
        user = (await api.post("/api/users", json={"username": "manager-user"})).json()
    settings = ManagerSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=tmp_path / "workers",
        max_workers=2,
        task_timeout_s=1,
        idle_timeout_s=2,
        monitor_interval_s=0.2,
        stop_grace_s=3,
        wrapper_command=WRAPPER,
    )
    deps = bootstrap(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(deps, stop))
    try:
        yield Harness(deps, redis_client, live_api, user["id"], tmp_path)
    finally:
        for worker_id in await deps.store.live():
            record = await deps.store.record(worker_id)
            if record.get("handle"):
                await deps.backend.stop(record["handle"], 1)
        stop.set()
        await asyncio.wait_for(running, 30)


async def test_a_developer_worker_is_created_runs_a_task_and_completes(harness: Harness) -> None:
    script = harness.script({"run": "echo x > x.txt && git add x.txt && git commit -qm x"})
    repo = _bare_repo(harness.tmp)
    await harness.publisher.publish(
        "worker:developer:input",
        DeveloperWorkerInput(
            task_id="t-1", project_id="p-1", prompt="go", repo_url=str(repo), timeout=60
        ),
    )

    response = await harness.create(WorkerType.DEVELOPER, script)

    assert response["success"] is True, response
    worker_id = response["worker_id"]
    [output] = await eventually(lambda: entries(harness.redis, "worker:developer:output"), 60)
    assert output["status"] == "success"
    assert output["worker_id"] == worker_id
    await harness.reaches(worker_id, WorkerState.COMPLETED)
    status = await harness.deps.store.status(worker_id)
    assert status is not None
    assert status.exit_code == 0
    assert await _key_revoked(harness, worker_id)


async def test_a_worker_killed_mid_task_is_failed_with_exactly_one_failed_output(
    harness: Harness,
) -> None:
    script = harness.script({"sleep": 60})
    repo = _bare_repo(harness.tmp)
    task = DeveloperWorkerInput(
        task_id="t-9", project_id="p-1", prompt="go", repo_url=str(repo), timeout=120
    )
    await harness.publisher.publish("worker:developer:input", task)
    response = await harness.create(WorkerType.DEVELOPER, script)
    worker_id = response["worker_id"]

    async def busy() -> bool:
        beat = await harness.redis.get(f"worker:heartbeat:{worker_id}")
        return beat is not None and json.loads(beat)["state"] == "busy"

    await eventually(busy)
    record = await harness.deps.store.record(worker_id)
    os.killpg(int(record["handle"]), signal.SIGKILL)

    await harness.reaches(worker_id, WorkerState.FAILED)
    await asyncio.sleep(1.5)  # time for a duplicate to show up, were there one
    outputs = await entries(harness.redis, "worker:developer:output")
    assert len(outputs) == 1
    assert outputs[0]["request_id"] == task.request_id
    assert outputs[0]["status"] == "error"
    assert outputs[0]["exit_code"] == 137
    assert "killed" in outputs[0]["error"]
    status = await harness.deps.store.status(worker_id)
    assert status is not None
    assert status.exit_code == 137
    summary = await harness.redis.xpending("worker:developer:input", "developer-workers")
    assert summary["pending"] == 0
    assert await _key_revoked(harness, worker_id)


async def test_a_deleted_worker_is_stopped_its_status_kept_and_its_key_revoked(
    harness: Harness,
) -> None:
    response = await harness.create(WorkerType.PO)
    worker_id = response["worker_id"]
    await harness.reaches(worker_id, WorkerState.RUNNING)

    await harness.publisher.publish("worker:commands", DeleteWorkerCommand(worker_id=worker_id))

    await harness.reaches(worker_id, WorkerState.STOPPED)
    assert await _key_revoked(harness, worker_id)
    await harness.publisher.publish("worker:commands", StatusWorkerCommand(worker_id=worker_id))
    answers = await eventually(lambda: _later(entries(harness.redis, "worker:responses:po"), 2))
    assert answers[0]["command"] == "status"
    assert answers[0]["status"]["state"] == "STOPPED"


async def test_an_idle_worker_is_paused_and_woken_when_its_input_has_entries(
    harness: Harness,
) -> None:
    response = await harness.create(WorkerType.PO)
    worker_id = response["worker_id"]
    await harness.reaches(worker_id, WorkerState.RUNNING)
    await harness.reaches(worker_id, WorkerState.PAUSED, within=15)
    handle = (await harness.deps.store.record(worker_id))["handle"]
    proc_status = await asyncio.to_thread(Path(f"/proc/{handle}/status").read_text)
    assert "State:\tT" in proc_status

    message = POWorkerInput(user_id=harness.user_id, prompt="are you there?")
    await harness.publisher.publish(f"worker:po:{worker_id}:input", message)

    [answer] = await eventually(lambda: entries(harness.redis, f"worker:po:{worker_id}:output"))
    assert answer["request_id"] == message.request_id
    assert await harness.state(worker_id) in ("RUNNING", "PAUSED")


async def test_a_create_beyond_capacity_is_refused_with_a_clear_error(harness: Harness) -> None:
    first = await harness.create(WorkerType.PO)
    second = await harness.create(WorkerType.PO)
    third = await harness.create(WorkerType.PO)
    assert first["success"]
    assert second["success"]
    assert third["success"] is False
    assert third["error"] == "capacity reached: 2 of 2 workers are live"


async def test_a_redelivered_create_starts_one_worker(harness: Harness) -> None:
    first = await harness.create(WorkerType.PO, request_id="create-once")
    again = await harness.create(WorkerType.PO, request_id="create-once")
    assert first["worker_id"] == again["worker_id"]
    assert len(await harness.deps.store.live()) == 1


async def _key_revoked(harness: Harness, worker_id: str) -> bool:
    """The worker's key exists, is revoked, and worker-manager no longer holds it."""
    record = await harness.deps.store.record(worker_id)
    headers = {"Authorization": f"Bearer {harness.api.service_key}"}
    async with httpx.AsyncClient(base_url=harness.api.url, headers=headers) as api:
        keys = (await api.get("/api/api-keys", params={"user_id": harness.user_id})).json()
    [key] = [k for k in keys if k["name"] == f"worker {worker_id}"]
    return record.get("key_id") == "" and key["revoked_at"] is not None


def _bare_repo(root: Path) -> Path:
    import subprocess

    seed, bare = root / "seed", root / "origin.git"
    if bare.exists():
        return bare
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "README.md").write_text("x\n")
    git = ["git", "-C", str(seed), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    return bare
