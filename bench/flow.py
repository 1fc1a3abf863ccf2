"""Engineering flows through langgraph-service: stage-to-stage latency, many flows waiting at
once (resident memory), and how fast they resume when their results all arrive together.

Everything is real but the stages: Redis (fsyncs every write, as in the tests), Postgres, the
API and langgraph-service, each its own process. The service runs with its default settings
but INTAKE_CONCURRENCY and LISTENER_CONCURRENCY (`--intake`, `--listeners`). The scaffolder,
worker-manager and the developer and tester workers are `FakeStages` in this process: they
answer as soon as they read.

1. Latency. `--flows` tasks on new projects (no repository: scaffolded first) run one at a time,
   each to its end, after one warm-up flow that does not count. A stage transition is the time
   from a fake's result entry (an XADD on scaffolder:results, worker:responses:developer or
   worker:developer:output) to the entry of the next command the service writes for the same
   task (a worker:commands create, or the run on the worker's input stream); both times are the
   entries' Redis ids (the Redis server's clock, 1 ms resolution). Four per flow: scaffolded →
   developer create, developer created → develop input, developed → tester create, tester
   created → test input. stage_p50_ms and stage_p99_ms are over all of them. Printed beside,
   not in those figures: intent → first command (intake) and test output → the engineering
   result on task_progress (finish).
2. Waiting. `--waiting` tasks on scaffolded projects with a repository, whose develop inputs the
   fake developer reads and never answers. Intents go in two halves; once the service's flows
   table says every flow of a half waits for its develop output, the service's VmRSS is read
   (and at 0: every phase-1 flow done, nothing waiting). rss_mb is the one with all waiting.
3. Resumes. The fakes stop (nobody answers what comes next), then every held develop input is
   answered at once (one pipeline of XADDs). resumes_per_s = waiting / (last tester create entry
   - first answer entry): in that span each flow was resumed from its checkpoint, recorded its
   execution, deleted its worker and published its next command.

Phases 1 and 3 also print the CPU time each process spent per flow / per resume, and how busy
the machine's CPUs were meanwhile: every figure here is wall-clock time, so other processes
on the machine slow it down, and that line says by how much they competed.

Last line: RESULT flow stage_p50_ms=<x> stage_p99_ms=<y> waiting_flows=<n> rss_mb=<z>
resumes_per_s=<w>

Usage: python -P bench/flow.py [--flows 30] [--waiting 1000] [--intake 4] [--listeners 8]
[--keep-logs]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
from api.admin_cli import create_admin_and_key
from api.migrations import upgrade
from langgraph_service.config import LanggraphSettings
from psycopg import sql
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    EngineeringMessage,
    WorkMode,
)
from shared.streams import RedisStreamPublisher, connect_redis
from shared.streams.registry import (
    DEVELOPER_INPUT,
    DEVELOPER_OUTPUT,
    ENGINEERING_QUEUE,
    SCAFFOLDER_QUEUE,
    SCAFFOLDER_RESULTS,
    TASK_PROGRESS,
    WORKER_COMMANDS,
    WORKER_RESPONSES_DEVELOPER,
)
from shared.streams.wire import encode
from shared.testing.processes import ServiceProcess, settings_env
from shared.testing.servers import Databases, PostgresServer, RedisServer, free_port, psql_binary
from shared.testing.stage_fakes import FakeStages, developed
from shared.testing.waiting import eventually

LANGGRAPH = str(Path(sys.executable).parent / "langgraph-service")
FLOW_S = 60  # one flow of phase 1, start to end
WAIT_S = 900  # every flow of a phase waiting, or moved on
API_CONCURRENCY = 32  # requests at once while making phase 2's projects and tasks
SCHEMA = "langgraph"  # the service's flows table is in it (CHECKPOINT_SCHEMA)

# (result stream, its request) → (command stream, its request); requests as suffixes of the
# task id (langgraph_service.domain.ids).
TRANSITIONS = [
    ((SCAFFOLDER_RESULTS.pattern, "scaffold"), (WORKER_COMMANDS.pattern, "a1.develop.create")),
    (
        (WORKER_RESPONSES_DEVELOPER.pattern, "a1.develop.create"),
        (DEVELOPER_INPUT.pattern, "a1.develop"),
    ),
    ((DEVELOPER_OUTPUT.pattern, "a1.develop"), (WORKER_COMMANDS.pattern, "a1.test.create")),
    ((WORKER_RESPONSES_DEVELOPER.pattern, "a1.test.create"), (DEVELOPER_INPUT.pattern, "a1.test")),
]
TRANSITION_NAMES = ["scaffolded→create", "created→develop", "developed→create", "created→test"]


class Api:
    """The API with a service's key, as the bench uses it."""

    def __init__(self, client: httpx.AsyncClient, owner_id: str) -> None:
        self.client, self.owner_id = client, owner_id

    async def _send(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.request(method, path, json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return cast(dict[str, Any], response.json())

    async def project(self, name: str, *, scaffolded: bool) -> dict[str, Any]:
        body = {"name": name, "modules": ["backend"], "owner_id": self.owner_id}
        project = await self._send("POST", "/api/projects", body)
        if scaffolded:
            path = f"/api/projects/{project['id']}"
            await self._send("PATCH", path, {"status": "scaffolding"})
            project = await self._send(
                "PATCH",
                path,
                {"status": "scaffolded", "repository_url": f"/srv/repositories/{name}.git"},
            )
        return project

    async def task(self, project: dict[str, Any]) -> str:
        body = {"project_id": project["id"], "type": "engineering", "spec": "Add /hello"}
        return str((await self._send("POST", "/api/tasks", body))["id"])


TICK = os.sysconf("SC_CLK_TCK")
COMPONENTS = ("langgraph-service", "API", "Postgres", "Redis")


def stat_of(pid: int) -> list[str]:
    """/proc/PID/stat after the command's parenthesis: [0] is field 3 (state)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int, *, reaped: bool = False) -> float:
    """User and system time; with `reaped`, also that of its children that ended."""
    fields = stat_of(pid)
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def tree_cpu_s(root: int) -> float:
    """A process and its children (Postgres: the postmaster and its backends)."""
    total = cpu_s(root, reaped=True)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int(stat_of(int(proc.name))[1]) == root:
                    total += cpu_s(int(proc.name))
            except (OSError, IndexError):
                pass  # ended meanwhile
    return total


def machine_busy_s() -> float:
    # cpu user nice system idle iowait irq softirq steal ...
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICK


class Meters:
    """CPU seconds of each part of the system under test, of the whole machine, and the time."""

    def __init__(self, langgraph: int, api: int, postgres: PostgresServer, redis: Redis) -> None:
        self.langgraph, self.api, self.redis = langgraph, api, redis
        self.postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])

    async def read(self) -> dict[str, float]:
        info = await self.redis.info("cpu")
        return {
            "langgraph-service": cpu_s(self.langgraph),
            "API": cpu_s(self.api),
            "Postgres": tree_cpu_s(self.postmaster),
            "Redis": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            "bench": time.process_time(),
            "machine": machine_busy_s(),
            "wall": time.perf_counter(),
        }


def cpu_report(before: dict[str, float], after: dict[str, float], count: int, per: str) -> str:
    spent = {name: after[name] - before[name] for name in after}
    wall = spent["wall"]
    ours = sum(spent[name] for name in COMPONENTS)
    parts = ", ".join(f"{name} {spent[name] / count * 1000:.1f}" for name in COMPONENTS)
    return (
        f"CPU ms per {per}: {parts} (sum {ours / count * 1000:.1f}); over {wall:.1f} s the "
        f"machine's {os.cpu_count()} CPUs were busy {spent['machine'] / wall:.2f} CPUs: "
        f"{ours / wall:.2f} these, {spent['bench'] / wall:.2f} this bench (the fakes), the rest "
        "other processes"
    )


async def idle_cpu(meters: Meters, seconds: float = 4) -> str:
    """What the waiting flows cost while nothing happens (the sweeper's rounds)."""
    before = await meters.read()
    await asyncio.sleep(seconds)
    after = await meters.read()
    wall = after["wall"] - before["wall"]
    parts = ", ".join(
        f"{name} {(after[name] - before[name]) / wall * 100:.0f}%" for name in COMPONENTS[:3]
    )
    return f"CPU while idle: {parts}"


def ms_of(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5):.0f} ms, p99 {percentile(values, 0.99):.0f} ms"


async def entry_times(redis: Redis, pattern: str, start: str = "-") -> dict[str, int]:
    """request_id → ms of its first entry on the streams `pattern` names (one stream, or one per
    worker when the pattern has a parameter)."""
    glob = re.sub(r"\{[^}]+\}", "*", pattern)
    streams = [pattern] if glob == pattern else [s async for s in redis.scan_iter(match=glob)]
    times: dict[str, int] = {}
    for stream in streams:
        cursor = start
        while True:
            batch = cast(
                list[tuple[str, dict[str, str]]],
                await redis.xrange(stream, cursor, "+", count=5000),
            )
            for entry_id, fields in batch:
                request = json.loads(fields["data"])["request_id"]
                times[request] = min(times.get(request, ms_of(entry_id)), ms_of(entry_id))
            if len(batch) < 5000:
                break
            cursor = "(" + batch[-1][0]
    return times


async def final_result(redis: Redis, task_id: str) -> dict[str, Any]:
    """The task's engineering result, once it is on its progress stream."""
    stream, last = TASK_PROGRESS.name(task_id=task_id), "0"
    deadline = time.monotonic() + FLOW_S
    while time.monotonic() < deadline:
        read = cast(
            list[tuple[str, list[tuple[str, dict[str, str]]]]],
            await redis.xread({stream: last}, block=1000),
        )
        for _, entries in read or []:
            for entry_id, fields in entries:
                last = entry_id
                entry = cast(dict[str, Any], json.loads(fields["data"]))
                if entry.get("kind") == "engineering_result":
                    return entry
    raise TimeoutError(f"flow {task_id} did not end within {FLOW_S} s")


async def xadd_ms(redis: Redis, rounds: int = 200) -> float:
    """One XADD's round trip here (Redis fsyncs every write), p50 in ms."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await redis.xadd("bench:xadd", {"data": "x"})
        times.append((time.perf_counter() - start) * 1000)
    await redis.delete("bench:xadd")
    return statistics.median(times)


async def latency_phase(
    redis: Redis, api: Api, flows: int, meters: Meters
) -> tuple[list[float], dict[str, list[float]]]:
    """Phase 1: every stage transition's ms, and the other spans by name."""
    publisher = RedisStreamPublisher(redis)
    tasks: list[str] = []
    before = await meters.read()
    for index in range(flows + 1):
        project = await api.project(f"latency-{index}", scaffolded=False)
        task_id = await api.task(project)
        await publisher.publish(
            ENGINEERING_QUEUE.pattern,
            EngineeringMessage(task_id=task_id, project_id=project["id"], user_id=api.owner_id),
        )
        result = await final_result(redis, task_id)
        if result["status"] != "success":
            raise RuntimeError(f"flow {task_id} ended {result['status']}: {result.get('error')}")
        if index:  # the first one warms the service up
            tasks.append(task_id)
        else:
            before = await meters.read()
    per = "flow (its project and task made through the API included)"
    print(cpu_report(before, await meters.read(), flows, per), flush=True)
    names = {stream for pair in TRANSITIONS for stream, _ in pair}
    names |= {ENGINEERING_QUEUE.pattern, SCAFFOLDER_QUEUE.pattern}
    times = {name: await entry_times(redis, name) for name in names}
    stages: list[float] = []
    spans: dict[str, list[float]] = {name: [] for name in [*TRANSITION_NAMES, "intake", "finish"]}
    for task_id in tasks:
        for name, ((answers, asked), (commands, next_)) in zip(
            TRANSITION_NAMES, TRANSITIONS, strict=True
        ):
            span = times[commands][f"{task_id}.{next_}"] - times[answers][f"{task_id}.{asked}"]
            stages.append(span)
            spans[name].append(span)
        progress = await entry_times(redis, TASK_PROGRESS.name(task_id=task_id))
        test_output = times[DEVELOPER_OUTPUT.pattern][f"{task_id}.a1.test"]
        spans["finish"].append(progress[f"{task_id}.result"] - test_output)
    intents = cast(list[tuple[str, dict[str, str]]], await redis.xrange(ENGINEERING_QUEUE.pattern))
    for entry_id, fields in intents:
        task_id = json.loads(fields["data"])["task_id"]
        if task_id in tasks:
            scaffold = times[SCAFFOLDER_QUEUE.pattern][f"{task_id}.scaffold"]
            spans["intake"].append(scaffold - ms_of(entry_id))
    return stages, spans


async def count_waiting(database_url: str, request_suffix: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        query = sql.SQL(
            "select count(*) from {}.flows where status = 'waiting' "
            "and right(request_id, %(n)s) = %(suffix)s"
        ).format(sql.Identifier(SCHEMA))
        cursor = await connection.execute(
            query, {"n": len(request_suffix), "suffix": request_suffix}
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0


async def until_waiting(
    database_url: str, suffix: str, wanted: int, *, every: Callable[[int], None]
) -> float:
    """Seconds until `wanted` flows wait on a request ending in `suffix`."""
    start = time.perf_counter()

    async def all_there() -> bool:
        count = await count_waiting(database_url, suffix)
        every(count)
        return count >= wanted

    await eventually(all_there, WAIT_S, interval=0.25)
    return time.perf_counter() - start


def reporter(label: str, total: int) -> Callable[[int], None]:
    """Prints `count/total` at most every 5 s."""
    last = [0.0]

    def report(count: int) -> None:
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            print(f"  {label}: {count}/{total}", flush=True)

    return report


async def bounded(concurrency: int, jobs: Iterable[Awaitable[Any]]) -> list[Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(job: Awaitable[Any]) -> Any:
        async with semaphore:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


async def ready_tasks(api: Api, names: list[str]) -> list[tuple[dict[str, Any], str]]:
    async def one(name: str) -> tuple[dict[str, Any], str]:
        project = await api.project(name, scaffolded=True)
        return project, await api.task(project)

    return await bounded(API_CONCURRENCY, (one(name) for name in names))


def stalls(log: str) -> int:
    return log.count('"event loop stalled"')


@dataclass
class System:
    """What phases 2 and 3 use."""

    redis: Redis
    api: Api
    stages: FakeStages
    service: ServiceProcess
    meters: Meters
    database_url: str


async def waiting_phase(
    system: System, waiting: int
) -> tuple[list[DeveloperWorkerInput], dict[int, float]]:
    """Phase 2: the develop inputs held, and the service's RSS (MB) by flows waiting."""
    held: list[DeveloperWorkerInput] = []

    def hold(message: DeveloperWorkerInput) -> DeveloperWorkerOutput | None:
        if message.mode is WorkMode.DEVELOP:
            held.append(message)
            return None
        return developed(message)

    system.stages.developer = hold
    rss = {0: rss_mb(system.service.pid)}
    print(
        f"0 flows waiting (phase 1 over): RSS {rss[0]:.1f} MB; {await idle_cpu(system.meters)}",
        flush=True,
    )
    start = time.perf_counter()
    made = await ready_tasks(system.api, [f"waiting-{index}" for index in range(waiting)])
    print(f"{waiting} projects and tasks made in {time.perf_counter() - start:.1f} s", flush=True)
    publisher = RedisStreamPublisher(system.redis)
    published = 0
    for upto in (waiting // 2, waiting):
        for project, task_id in made[published:upto]:
            await publisher.publish(
                ENGINEERING_QUEUE.pattern,
                EngineeringMessage(
                    task_id=task_id, project_id=project["id"], user_id=system.api.owner_id
                ),
            )
        took = await until_waiting(
            system.database_url, ".a1.develop", upto, every=reporter("waiting", upto)
        )
        await asyncio.sleep(1)
        rss[upto] = rss_mb(system.service.pid)
        print(
            f"{upto} flows waiting: {upto - published} more started and waiting in {took:.1f} s "
            f"({(upto - published) / took:.0f}/s); RSS {rss[upto]:.1f} MB; "
            + await idle_cpu(system.meters),
            flush=True,
        )
        published = upto
    return held, rss


async def resume_phase(system: System, held: list[DeveloperWorkerInput]) -> float:
    """Phase 3: every held develop input answered at once; resumes per second."""
    await system.stages.stop()  # nobody answers the next commands: no other work competes
    before, log_before = await system.meters.read(), system.service.logs()
    pipe = system.redis.pipeline(transaction=False)
    for message in held:
        pipe.xadd(DEVELOPER_OUTPUT.pattern, encode(developed(message)))  # type: ignore[arg-type]
    answers = cast(list[str], await pipe.execute())
    peak, report = [0.0], reporter("moved on", len(held))

    def sample(count: int) -> None:
        peak[0] = max(peak[0], rss_mb(system.service.pid))
        report(count)

    await until_waiting(system.database_url, ".a1.test.create", len(held), every=sample)
    after = await system.meters.read()
    commands = await entry_times(system.redis, WORKER_COMMANDS.pattern, answers[0])
    last = max(commands[f"{message.task_id}.a1.test.create"] for message in held)
    span_s = (last - ms_of(answers[0])) / 1000
    print(
        f"{len(held)} answers written in {ms_of(answers[-1]) - ms_of(answers[0])} ms; the last "
        f"flow's next command {span_s:.2f} s after the first answer: "
        f"{len(held) / span_s:.0f} resumes/s; peak RSS {peak[0]:.1f} MB; event-loop stalls "
        f"over 50 ms: {stalls(system.service.logs()) - stalls(log_before)}",
        flush=True,
    )
    print(cpu_report(before, after, len(held), "resume"), flush=True)
    return len(held) / span_s


async def main(flows: int, waiting: int, intake: int, listeners: int, keep_logs: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="cg-bench-flow-", dir="/tmp"))
    redis_server, postgres = RedisServer(), PostgresServer()
    processes: list[ServiceProcess] = []
    redis: Redis | None = None
    stages: FakeStages | None = None
    finished = False
    try:
        redis_server.start()
        postgres.start()
        database_url = Databases(postgres.url(), psql_binary()).create()
        await asyncio.to_thread(upgrade, database_url)
        admin = await create_admin_and_key(
            database_url, admin_username="bench", admin_telegram_id=None, new_key=False
        )
        env = {"PATH": os.environ["PATH"], "HOME": str(root)}
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        api_env = {"DATABASE_URL": database_url, "API_PORT": str(api_port), "LOG_LEVEL": "WARNING"}
        api_process = ServiceProcess(
            [sys.executable, "-m", "api.main"], env | api_env, root / "api.log"
        )
        processes.append(api_process)

        async def api_up() -> bool:
            if api_process.exit_code is not None:
                raise RuntimeError(api_process.describe())
            try:
                async with httpx.AsyncClient() as probe:
                    return (await probe.get(f"{api_url}/health", timeout=1)).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(api_up, 60)
        settings = LanggraphSettings(
            redis_url=redis_server.url,
            api_url=api_url,
            api_key=admin["service_key"],
            database_url=database_url,
            developer_agent=AgentType.SCRIPTED,
            checkpoint_schema=SCHEMA,
            intake_concurrency=intake,
            listener_concurrency=listeners,
            log_format="json",
        )
        service = ServiceProcess([LANGGRAPH], env | settings_env(settings), root / "langgraph.log")
        processes.append(service)
        redis = connect_redis(redis_server.url)
        meters = Meters(service.pid, api_process.pid, postgres, redis)
        headers = {"Authorization": f"Bearer {admin['service_key']}"}
        # Shorter than uvicorn's keep-alive (5 s): a connection it is closing is not reused.
        limits = httpx.Limits(max_connections=API_CONCURRENCY, keepalive_expiry=1)
        async with httpx.AsyncClient(
            base_url=api_url, headers=headers, limits=limits, timeout=30
        ) as client:
            api = Api(client, admin["admin_user_id"])
            stages = FakeStages(redis, api=client)
            await stages.start()
            print(
                f"langgraph-service pid {service.pid}: INTAKE_CONCURRENCY={intake} "
                f"LISTENER_CONCURRENCY={listeners}, the other settings their defaults; "
                f"one XADD here {await xadd_ms(redis):.2f} ms (p50)",
                flush=True,
            )

            # 1. Latency
            stage_ms, spans = await latency_phase(redis, api, flows, meters)
            for name, values in spans.items():
                print(f"{name:>18}: {spread(values)} over {len(values)}", flush=True)
            stage_p50, stage_p99 = percentile(stage_ms, 0.5), percentile(stage_ms, 0.99)
            print(
                f"stage transitions: p50 {stage_p50:.0f} ms, p99 {stage_p99:.0f} ms, "
                f"max {max(stage_ms):.0f} ms over {len(stage_ms)}",
                flush=True,
            )
            await asyncio.sleep(1)

            # 2. Waiting, 3. Resumes
            system = System(redis, api, stages, service, meters, database_url)
            held, rss = await waiting_phase(system, waiting)
            print(
                "RSS by flows waiting: "
                + ", ".join(f"{count}: {mb:.1f} MB" for count, mb in rss.items())
                + f"; {(rss[waiting] - rss[0]) * 1024 / max(1, waiting):.1f} KB per flow",
                flush=True,
            )
            stages = None  # the resume phase stops them
            resumes_per_s = await resume_phase(system, held)
        finished = True
    finally:
        if stages is not None:
            await stages.stop()
        if redis is not None:
            await redis.aclose()
        for process in reversed(processes):
            # Their logs' tails are printed only when the bench failed.
            with contextlib.redirect_stdout(io.StringIO() if finished else sys.stdout):
                process.stop(must_stop=False)
        postgres.close()
        redis_server.close()
        if keep_logs:
            print(f"logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"RESULT flow stage_p50_ms={stage_p50:.0f} stage_p99_ms={stage_p99:.0f} "
        f"waiting_flows={waiting} rss_mb={rss[waiting]:.0f} resumes_per_s={resumes_per_s:.0f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=30, help="flows timed one at a time")
    parser.add_argument("--waiting", type=int, default=1000, help="flows waiting at once")
    parser.add_argument("--intake", type=int, default=4, help="INTAKE_CONCURRENCY")
    parser.add_argument("--listeners", type=int, default=8, help="LISTENER_CONCURRENCY")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs")
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.flows,
            arguments.waiting,
            arguments.intake,
            arguments.listeners,
            arguments.keep_logs,
        )
    )
