"""The docker backend against a real engine (podman's Docker-compatible API), images built
locally from a Debian root filesystem."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import docker
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    Capability,
    CreateWorkerCommand,
    WorkerConfig,
    WorkerState,
    WorkerType,
)
from shared.streams import RedisStreamPublisher
from worker_manager.adapters.docker_backend import DockerBackend, WorkerImages, image_tag
from worker_manager.bootstrap import bootstrap
from worker_manager.config import ManagerSettings
from worker_manager.main import serve
from worker_manager.ports import WorkerSpec

BASE_IMAGE = "localhost/codegen-base:bookworm"
PREFIX = f"codegen-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def engine(docker_host: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=docker_host)
    try:
        yield client
    finally:
        # By tag, never by id: the base image may carry a test tag too.
        for image in client.images.list(name=PREFIX):
            for tag in image.tags:
                if tag.split("/")[-1].startswith(f"{PREFIX}:"):
                    client.images.remove(tag)
        client.close()


@pytest_asyncio.fixture
async def backend(engine: docker.DockerClient, redis_client: Redis) -> AsyncIterator[DockerBackend]:
    images = WorkerImages(engine, redis_client, prefix=PREFIX, base_image=BASE_IMAGE)
    yield DockerBackend(engine, images, cpus=1, memory="512m", pids_limit=256)
    for container in engine.containers.list(
        all=True, filters={"label": f"codegen.prefix={PREFIX}"}
    ):
        container.remove(force=True)


def spec(tmp_path: Path, worker_id: str, redis_url: str) -> WorkerSpec:
    config = WorkerConfig(
        name="w",
        worker_type=WorkerType.PO,
        agent_type=AgentType.SCRIPTED,
        instructions="You are a test PO.",
        capabilities=[Capability.GIT],
    )
    env = {
        "WORKER_ID": worker_id,
        "WORKER_TYPE": "po",
        "AGENT_TYPE": "scripted",
        "REDIS_URL": redis_url,
        "INSTRUCTIONS": "You are a test PO.",
        "API_KEY": "cgo_test",
    }
    return WorkerSpec(
        worker_id,
        config,
        env,
        tmp_path / worker_id,
        {"codegen.worker-id": worker_id, "codegen.prefix": PREFIX},
    )


async def test_an_image_is_built_once_and_then_reused(backend: DockerBackend) -> None:
    first = await backend.images.ensure(AgentType.SCRIPTED, [Capability.GIT])
    started = time.monotonic()
    again = await backend.images.ensure(AgentType.SCRIPTED, [Capability.GIT])
    assert time.monotonic() - started < 1.0
    assert again == first
    assert image_tag(PREFIX, AgentType.CLAUDE, [Capability.GIT, Capability.CURL]) == image_tag(
        PREFIX, AgentType.CLAUDE, [Capability.CURL, Capability.GIT, Capability.GIT]
    )
    assert image_tag(PREFIX, AgentType.CLAUDE, []) != image_tag(PREFIX, AgentType.CODEX, [])


async def test_a_worker_container_runs_the_wrapper_with_its_environment_and_instructions(
    backend: DockerBackend,
    engine: docker.DockerClient,
    tmp_path: Path,
    redis_url: str,
    redis_client: Redis,
) -> None:
    worker_id = f"po-{uuid.uuid4().hex[:8]}"
    handle = await backend.start(spec(tmp_path, worker_id, redis_url))

    async def started() -> bool:
        return bool(await redis_client.xlen("worker:lifecycle"))

    deadline = time.monotonic() + 60
    while not await started():
        assert time.monotonic() < deadline, engine.containers.get(handle).logs().decode()[-2000:]
        await asyncio.sleep(0.2)
    container = engine.containers.get(handle)
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    assert env["WORKER_ID"] == worker_id
    assert env["WORKSPACE_DIR"] == "/workspace"
    assert container.labels["codegen.worker-id"] == worker_id
    host = container.attrs["HostConfig"]
    assert host["CapDrop"]
    assert "no-new-privileges" in str(host["SecurityOpt"])
    assert host["PidsLimit"] == 256
    instructions = await backend.read_file(handle, "/workspace/po/AGENTS.md")
    assert instructions == "You are a test PO."
    assert await backend.exit_code(handle) is None

    container.kill()
    deadline = time.monotonic() + 30
    while (code := await backend.exit_code(handle)) is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert code == 137
    await backend.stop(handle, 1)


async def test_garbage_collection_removes_old_images_of_its_prefix_only(
    backend: DockerBackend, engine: docker.DockerClient, redis_client: Redis
) -> None:
    base = engine.images.get(BASE_IMAGE)
    base.tag(PREFIX, "old")
    other = f"codegen-other-{uuid.uuid4().hex[:6]}"
    base.tag(other, "old")
    month_ago = str(time.time() - 30 * 86400)
    await redis_client.hset(
        "worker-images:last-used", mapping={f"{PREFIX}:old": month_ago, f"{other}:old": month_ago}
    )
    fresh = image_tag(PREFIX, AgentType.SCRIPTED, [Capability.GIT])
    await backend.images.ensure(AgentType.SCRIPTED, [Capability.GIT])
    try:
        removed = await backend.images.collect_garbage(max_idle_days=14)
        assert removed == [f"{PREFIX}:old"]
        tags = {t.split("/")[-1] for image in engine.images.list() for t in image.tags}
        assert f"{other}:old" in tags
        assert fresh in tags
        assert f"{PREFIX}:old" not in tags
        assert engine.images.get(BASE_IMAGE).id == base.id  # untagged, never deleted
    finally:
        engine.images.remove(f"{other}:old")


async def test_a_killed_worker_container_is_failed_by_the_manager_from_the_engines_events(
    engine: docker.DockerClient, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    images = WorkerImages(engine, redis_client, prefix=PREFIX, base_image=BASE_IMAGE)
    backend = DockerBackend(engine, images, cpus=1, memory="512m", pids_limit=256)
    settings = ManagerSettings(
        redis_url=redis_url,
        data_dir=tmp_path / "workers",
        task_timeout_s=60,
        idle_timeout_s=3600,
        # Slower than the test's patience: the death must come from the engine's event stream.
        monitor_interval_s=300,
    )
    deps = bootstrap(settings, backend=backend)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(deps, stop))
    try:
        command = CreateWorkerCommand(
            config=WorkerConfig(
                name="w",
                worker_type=WorkerType.PO,
                agent_type=AgentType.SCRIPTED,
                capabilities=[Capability.GIT],
            )
        )
        await RedisStreamPublisher(redis_client).publish("worker:commands", command)
        deadline = time.monotonic() + 90
        while not (responses := await redis_client.xrange("worker:responses:po")):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        fields = cast(dict[str, str], responses[0][1])
        response = json.loads(fields["data"])
        assert response["success"], response["error"]
        worker_id = response["worker_id"]

        async def state() -> str | None:
            status = await deps.store.status(worker_id)
            return status.state if status else None

        while await state() != WorkerState.RUNNING:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        handle = (await deps.store.record(worker_id))["handle"]
        engine.containers.get(handle).kill()
        while await state() != WorkerState.FAILED:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        status = await deps.store.status(worker_id)
        assert status is not None
        assert status.exit_code == 137
        assert status.error == "killed: out of memory or SIGKILL (137)"
        await backend.stop(handle, 1)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
