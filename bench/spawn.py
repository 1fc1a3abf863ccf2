"""create → RUNNING latency: worker-manager's process backend vs starting the same wrapper with a
bare subprocess call, and the docker backend with a cached image; same run, medians.

RUNNING means the wrapper's `started` lifecycle event was seen (for the bare start: the event
itself appeared on the stream). The docker part needs podman (`make containers`).

Usage: python -P bench/spawn.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import cast

import docker
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    Capability,
    CreateWorkerCommand,
    WorkerConfig,
    WorkerState,
    WorkerType,
)
from shared.streams import RedisStreamPublisher, connect_redis
from shared.testing.servers import RedisServer
from worker_manager.adapters.docker_backend import DockerBackend, WorkerImages
from worker_manager.bootstrap import Container, bootstrap
from worker_manager.config import ManagerSettings
from worker_manager.main import serve

WRAPPER = str(Path(sys.executable).parent / "worker-wrapper")
CONFIG = WorkerConfig(
    name="bench",
    worker_type=WorkerType.PO,
    agent_type=AgentType.SCRIPTED,
    capabilities=[Capability.GIT],
)


async def through_manager(deps: Container, redis: Redis) -> float:
    await redis.delete("worker:responses:po")
    start = time.perf_counter()
    await RedisStreamPublisher(redis).publish("worker:commands", CreateWorkerCommand(config=CONFIG))
    while not await redis.xlen("worker:responses:po"):  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    [worker_id] = await deps.store.live()
    while (status := await deps.store.status(worker_id)) is None or status.state != "RUNNING":  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - start
    record = await deps.store.record(worker_id)
    await deps.backend.stop(record["handle"], 5)
    await deps.store.update(worker_id, WorkerState.STOPPED)
    return elapsed


async def bare(url: str, redis: Redis, root: Path) -> float:
    worker_id = f"po-{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": os.environ["PATH"],
        "WORKER_ID": worker_id,
        "WORKER_TYPE": "po",
        "AGENT_TYPE": "scripted",
        "REDIS_URL": url,
        "WORKSPACE_DIR": str(root / worker_id),
        "HOME": str(root / worker_id / "home"),
    }
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        WRAPPER,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while not await _started(redis, worker_id):  # noqa: ASYNC110 - polling Redis is the point
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - start
    process.terminate()
    await process.wait()
    return elapsed


async def _started(redis: Redis, worker_id: str) -> bool:
    entries = cast(
        list[tuple[str, dict[str, str]]], await redis.xrevrange("worker:lifecycle", count=20)
    )
    return any(f'"worker_id":"{worker_id}"' in fields["data"] for _, fields in entries)


async def measure(runs: int, url: str, root: Path, docker_host: str) -> None:
    redis = connect_redis(url)
    settings = ManagerSettings(
        redis_url=url,
        data_dir=root / "workers",
        wrapper_command=WRAPPER,
        monitor_interval_s=60,
        task_timeout_s=60,
        idle_timeout_s=3600,
    )
    process_deps = bootstrap(settings)
    client = docker.DockerClient(base_url=docker_host)
    images = WorkerImages(
        client, redis, prefix="codegen-bench-worker", base_image="localhost/codegen-base:bookworm"
    )
    docker_deps = bootstrap(settings, backend=DockerBackend(client, images))
    await images.ensure(CONFIG.agent_type, CONFIG.capabilities)  # build outside the clock
    results: dict[str, list[float]] = {"process": [], "bare": [], "docker": []}
    for deps, key in [(process_deps, "process"), (docker_deps, "docker")]:
        stop = asyncio.Event()
        running = asyncio.create_task(serve(deps, stop))
        for _ in range(runs):
            results[key].append(await through_manager(deps, redis))
            if key == "process":
                results["bare"].append(await bare(url, redis, root))
        stop.set()
        await running
    await redis.aclose()
    ms = {k: statistics.median(v) * 1000 for k, v in results.items()}
    print(
        f"RESULT spawn process_ratio={ms['process'] / ms['bare']:.2f} "
        f"process_ms={ms['process']:.0f} docker_cached_ms={ms['docker']:.0f} "
        f"bare_ms={ms['bare']:.0f}"
    )


def main(runs: int) -> None:
    server = RedisServer()
    server.start()
    podman = None
    docker_host = os.environ.get("DOCKER_HOST")
    with tempfile.TemporaryDirectory() as tmp:
        if not docker_host:
            docker_host = f"unix://{tmp}/podman.sock"
            podman = subprocess.Popen(
                ["podman", "system", "service", "--time=0", docker_host],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while not Path(f"{tmp}/podman.sock").exists():
                time.sleep(0.05)
        try:
            asyncio.run(measure(runs, server.url, Path(tmp), docker_host))
        finally:
            if podman:
                podman.terminate()
            server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
