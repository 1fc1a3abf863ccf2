"""create → RUNNING: worker-manager's own cost beside the wrapper's start-up.

Each round runs, alternating (A B C A B C …):
- A, bare: the same wrapper started with a plain subprocess call; `bare_ms` runs to its
  `started` lifecycle event. This is the wrapper's start-up, mostly the interpreter's.
- B, process backend: a create command to worker-manager; the clock stops when the worker's
  status is RUNNING. Along the way `reply_ms` (command → create reply: the manager's create work
  with the spawn) and `after_started_ms` (`started` event → RUNNING: its lifecycle handling).
- C, docker backend with a cached image: the same as B.
`process_overhead_ms` / `docker_overhead_ms` are B - A / C - A within a round: what the manager
adds to starting the wrapper, which interpreter start-up no longer hides. Medians over the
rounds, spread = p75 - p25. Managers are started before and stopped after their part of each
round, outside the clock, and its workers stopped after it. Every wait is bounded.

The docker part needs podman (`make containers`).
Usage: python -P bench/spawn.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import docker
from redis.asyncio import Redis
from redis.typing import KeyT, StreamIdT
from shared.contracts import (
    AgentType,
    Capability,
    CreateWorkerCommand,
    Message,
    StatusWorkerCommand,
    WorkerConfig,
    WorkerState,
    WorkerType,
)
from shared.lifetime import Lifetime
from shared.logging import configure_logging
from shared.runtime import close_all, serve
from shared.streams import RedisStreamPublisher, connect_redis
from shared.testing.servers import RedisServer
from worker_manager.adapters.docker_backend import DockerBackend, WorkerImages
from worker_manager.adapters.process_backend import ProcessBackend
from worker_manager.adapters.redis_status_store import RedisStatusStore
from worker_manager.bootstrap import build
from worker_manager.config import ManagerSettings

WRAPPER = str(Path(sys.executable).parent / "worker-wrapper")
CONFIG = WorkerConfig(
    name="bench",
    worker_type=WorkerType.PO,
    agent_type=AgentType.SCRIPTED,
    capabilities=[Capability.GIT],
)
COMMANDS, RESPONSES, LIFECYCLE = "worker:commands", "worker:responses:po", "worker:lifecycle"
WAIT_S = 60.0


class Clock:
    """A deadline for one measurement: nothing waits past it."""

    def __init__(self, within: float = WAIT_S) -> None:
        self.deadline = time.monotonic() + within

    def remaining_ms(self) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("a bench step did not finish in time")
        return max(1, int(left * 1000))


async def last_id(redis: Redis, stream: str) -> str:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrevrange(stream, count=1))
    return entries[0][0] if entries else "0-0"


async def wait_entries(
    redis: Redis,
    cursors: dict[KeyT, StreamIdT],
    wanted: dict[str, Callable[[dict[str, Any]], bool]],
    clock: Clock,
) -> dict[str, tuple[float, dict[str, Any]]]:
    """Blocking reads on several streams until each has an entry `wanted` accepts; for each
    stream, when (perf_counter) and which entry first matched."""
    positions = dict(cursors)
    found: dict[str, tuple[float, dict[str, Any]]] = {}
    while len(found) < len(wanted):
        reply = cast(
            list[tuple[str, list[tuple[str, dict[str, str]]]]],
            # Shorter than the client's socket timeout; the loop goes on to the deadline.
            await redis.xread(positions, block=min(clock.remaining_ms(), 10_000)),
        )
        now = time.perf_counter()
        for stream, entries in reply:
            for entry_id, fields in entries:
                positions[stream] = entry_id
                data = json.loads(fields["data"])
                if stream not in found and wanted[stream](data):
                    found[stream] = (now, data)
    return found


async def command(redis: Redis, message: Message, clock: Clock) -> dict[str, Any]:
    """Send a command to worker-manager and wait for its reply."""
    cursor = await last_id(redis, RESPONSES)
    await RedisStreamPublisher(redis).publish(COMMANDS, message)
    found = await wait_entries(
        redis,
        {RESPONSES: cursor},
        {RESPONSES: lambda r: r["request_id"] == message.request_id},
        clock,
    )
    return found[RESPONSES][1]


async def through_manager(redis: Redis, store: RedisStatusStore) -> dict[str, float]:
    """One create, timed to RUNNING."""
    clock = Clock()
    create = CreateWorkerCommand(config=CONFIG)
    cursors: dict[KeyT, StreamIdT] = {
        stream: await last_id(redis, stream) for stream in (RESPONSES, LIFECYCLE)
    }
    start = time.perf_counter()
    await RedisStreamPublisher(redis).publish(COMMANDS, create)
    found = await wait_entries(
        redis,
        cursors,
        {
            RESPONSES: lambda r: r["request_id"] == create.request_id,
            LIFECYCLE: lambda e: e["event"] == "started",
        },
        clock,
    )
    (replied, reply), (started, event) = found[RESPONSES], found[LIFECYCLE]
    assert reply["success"], reply
    worker_id = reply["worker_id"]
    assert event["worker_id"] == worker_id, (event, reply)
    while (status := await store.status(worker_id)) is None or status.state != WorkerState.RUNNING:
        clock.remaining_ms()
        await asyncio.sleep(0.002)
    running = time.perf_counter()
    return {
        "total": running - start,
        "reply": replied - start,
        "after_started": running - started,
    }


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
    log = root / f"{worker_id}.log"
    cursor = await last_id(redis, LIFECYCLE)
    with log.open("wb") as sink:
        start = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            WRAPPER, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        found = await wait_entries(
            redis,
            {LIFECYCLE: cursor},
            {LIFECYCLE: lambda e: e["worker_id"] == worker_id and e["event"] == "started"},
            Clock(),
        )
    except BaseException:
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        raise
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), WAIT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
    return found[LIFECYCLE][0] - start


async def manager_round(
    settings: ManagerSettings, redis: Redis, make_backend: Callable[[], Any] | None
) -> dict[str, float]:
    """Start a manager, wait until it answers, time one create, stop it; then stop its workers
    through its backend (a delete racing the engine's death event is not what is measured)."""
    backend = make_backend() if make_backend else ProcessBackend(settings.wrapper_command)
    lifetime = Lifetime()
    service = build(settings, lifetime, backend=backend)
    store = RedisStatusStore(redis)
    running = asyncio.create_task(serve(service, lifetime))
    try:
        await command(redis, StatusWorkerCommand(worker_id="po-warmup"), Clock())  # it reads
        return await through_manager(redis, store)
    finally:
        lifetime.stop()
        await asyncio.wait_for(running, WAIT_S)
        await close_all(service.resources)
        for worker_id in await store.live():
            record = await store.record(worker_id)
            if record is not None and record.handle:
                await asyncio.wait_for(backend.stop(record.handle, 5), WAIT_S)
            await store.update(worker_id, WorkerState.STOPPED)
            await store.removed(worker_id)


def spread(values: list[float]) -> tuple[float, float]:
    """Median and spread (p75 - p25), in milliseconds."""
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return statistics.median(values) * 1000, (q3 - q1) * 1000


async def measure(rounds: int, url: str, root: Path, docker_host: str) -> None:
    redis = connect_redis(url)
    settings = ManagerSettings(
        redis_url=url,
        data_dir=root / "workers",
        wrapper_command=WRAPPER,
        monitor_interval_s=60,
        task_timeout_s=60,
        idle_timeout_s=3600,
        stop_grace_s=5,
    )
    client = docker.DockerClient(base_url=docker_host)

    def docker_backend() -> DockerBackend:
        images = WorkerImages(
            client,
            redis,
            prefix="codegen-bench-worker",
            base_image="localhost/codegen-base:bookworm",
        )
        return DockerBackend(client, images)

    # Build the image outside the clock; then one untimed round warms every path.
    await docker_backend().images.ensure(CONFIG.agent_type, CONFIG.capabilities)
    await bare(url, redis, root)
    await manager_round(settings, redis, None)
    await manager_round(settings, redis, docker_backend)
    series: dict[str, list[float]] = {
        k: []
        for k in ("bare", "process", "reply", "after_started", "process_over", "docker", "d_over")
    }
    for _ in range(rounds):
        bare_s = await bare(url, redis, root)
        process = await manager_round(settings, redis, None)
        dockered = await manager_round(settings, redis, docker_backend)
        series["bare"].append(bare_s)
        series["process"].append(process["total"])
        series["reply"].append(process["reply"])
        series["after_started"].append(process["after_started"])
        series["process_over"].append(process["total"] - bare_s)
        series["docker"].append(dockered["total"])
        series["d_over"].append(dockered["total"] - bare_s)
    await redis.aclose()
    s = {k: spread(v) for k, v in series.items()}
    print(
        f"RESULT spawn rounds={rounds} "
        f"process_overhead_ms={s['process_over'][0]:.0f} "
        f"process_overhead_spread_ms={s['process_over'][1]:.0f} "
        f"reply_ms={s['reply'][0]:.0f} after_started_ms={s['after_started'][0]:.0f} "
        f"process_ms={s['process'][0]:.0f} process_spread_ms={s['process'][1]:.0f} "
        f"bare_ms={s['bare'][0]:.0f} bare_spread_ms={s['bare'][1]:.0f} "
        f"process_ratio={s['process'][0] / s['bare'][0]:.2f} "
        f"docker_cached_ms={s['docker'][0]:.0f} docker_spread_ms={s['docker'][1]:.0f} "
        f"docker_overhead_ms={s['d_over'][0]:.0f}"
    )


def start_podman(tmp: str) -> tuple[str, subprocess.Popen[bytes]]:
    socket_path = Path(tmp) / "podman.sock"
    podman = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if podman.poll() is not None or time.monotonic() > deadline:
            podman.kill()
            raise RuntimeError("podman's API service did not start; run `make containers`")
        time.sleep(0.05)
    return f"unix://{socket_path}", podman


def main(rounds: int) -> None:
    configure_logging("bench-spawn", json=False, level="ERROR")
    server = RedisServer()
    server.start()
    podman = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                docker_host = os.environ.get("DOCKER_HOST")
                if not docker_host:
                    docker_host, podman = start_podman(tmp)
                asyncio.run(measure(rounds, server.url, Path(tmp), docker_host))
            finally:
                if podman:
                    podman.terminate()
                    podman.wait(30)
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error("--rounds must be at least 5")
    main(args.rounds)
