"""Deploy latency on the `local` target: infra-service against the same deploy done by hand.

A (baseline), in this process: what a script doing the deploy by hand must do, with the service's
own adapters: the server looked up in the API, git fetch and archive of the commit, `.project.yml`
read from the archive, the same deploy_project.yml with the same extra-vars through
ansible-runner, the deployment recorded in the API. B (subject): the same deploy as a message on
ansible:deploy:queue to infra-service running as its own process, until its result is on
deploy:results. Each round deploys a new commit of the same tiny app (same build, same port,
each side its own project), A then B, A then B …: B does all of A's work plus the queue, the
lock, the idempotency record and the result, so ratio = B / A is ≥ 1 by construction.

Then two deploys at once, a few times, through a second infra-service process with its event-loop
lag probe on (LOOP_LAG_PROBE_MS): the worst lag it saw (goal: under 50 ms).

Usage: python -P bench/deploy.py [--rounds N] [--pairs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import httpx
from api.admin_cli import create_admin_and_key
from api.migrations import upgrade
from infra_service.bootstrap import Adapters, build_adapters
from infra_service.config import InfraSettings
from infra_service.domain.jobs import host_vars, target_of
from infra_service.domain.playbooks import Action, select_playbook
from infra_service.domain.project_file import deployed, read_project_file
from infra_service.ports import PlaybookJob
from redis.asyncio import Redis
from shared.contracts import PROJECT_FILE, AnsibleDeployMessage
from shared.streams import RedisStreamPublisher, connect_redis
from shared.testing.servers import Databases, PostgresServer, RedisServer, free_port, psql_binary
from shared.testing.waiting import eventually

sys.path.insert(0, str(Path(__file__).parents[1] / "services" / "infra-service" / "tests"))
from infra_testing import ServiceProcess, commit, local_deploy, stop_supervisor, tiny_app_repo

DEPLOY_TIMEOUT_S = 300


async def by_hand(deps: Adapters, settings: InfraSettings, message: AnsibleDeployMessage) -> float:
    """A: the deploy without the service around it; seconds."""
    start = time.perf_counter()
    server = await deps.inventory.server(message.server)
    assert server is not None
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=settings.jobs_dir))
    try:
        archive = await deps.sources.archive(
            message.repo_full_name, message.commit_sha, work / "source", None
        )
        spec = read_project_file(await deps.sources.read_file(archive, PROJECT_FILE))
        services = [
            {"name": name, "port": message.port, **deployed(declared)}
            for name, declared in spec.services.items()
        ]
        job = PlaybookJob(
            playbook=select_playbook(Action.DEPLOY, is_local=server.is_local),
            target=target_of(server),
            extravars={
                **host_vars(server, deps.hosting),
                "project_name": message.project_name,
                "commit": message.commit_sha,
                "source_archive": str(archive),
                "services": services,
                "releases_kept": settings.releases_kept,
                "health_timeout_s": settings.health_timeout_s,
            },
        )
        outcome = await deps.playbooks.run(job)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    assert outcome.succeeded, (outcome.failures, outcome.stdout[-2000:])
    url = f"http://{server.address}:{message.port}"
    for service in services:
        await deps.inventory.record_deployment(
            project_id=message.project_id,
            server_id=server.id,
            service_name=service["name"],
            port=service["port"],
            commit_sha=message.commit_sha,
            url=url if service["name"] == spec.entry_point else None,
            running=True,
        )
    return time.perf_counter() - start


async def through_service(redis: Redis, message: AnsibleDeployMessage) -> float:
    """B: queue → infra-service → result; seconds. Reads the results as they come (XREAD)."""
    start = time.perf_counter()
    # The cursor is taken before publishing, so the result cannot be missed.
    newest = cast(list[tuple[str, Any]], await redis.xrevrange("deploy:results", count=1))
    last = newest[0][0] if newest else "0"
    await RedisStreamPublisher(redis).publish("ansible:deploy:queue", message)
    wanted = message.request_id  # a result repeats its request's request_id
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while time.monotonic() < deadline:
        read = await redis.xread({"deploy:results": last}, block=1000)
        for _, batch in cast(list[tuple[str, list[tuple[str, dict[str, str]]]]], read or []):
            for entry_id, fields in batch:
                last = entry_id
                result = json.loads(fields["data"])
                if result["request_id"] == wanted:
                    assert result["status"] == "success", result
                    return time.perf_counter() - start
    raise TimeoutError(f"no result for {message.project_name} within {DEPLOY_TIMEOUT_S} s")


def launch_api(database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The real API as its own process; its output goes to a file."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.main"],
            env={**os.environ, "DATABASE_URL": database_url, "API_PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


async def wait_for_api(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    async def up() -> bool:
        if process.poll() is not None:
            output = await asyncio.to_thread(log.read_text)
            raise RuntimeError(f"the API exited: {output[-2000:]}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{base}/docs", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(up, 60)


def worst_lag_ms(log: str) -> float:
    for line in log.splitlines():
        if line.startswith("{") and '"event loop lag"' in line:
            return float(json.loads(line)["worst_ms"])
    raise RuntimeError("infra-service logged no event-loop lag")


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}..{max(values):.2f}"


async def main(rounds: int, pairs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="cg-bench-", dir="/tmp"))
    redis_server, postgres = RedisServer(), PostgresServer()
    redis_server.start()
    postgres.start()
    api: subprocess.Popen[bytes] | None = None
    services: list[ServiceProcess] = []
    try:
        database_url = Databases(postgres.url(), psql_binary()).create()
        await asyncio.to_thread(upgrade, database_url)
        admin = await create_admin_and_key(
            database_url, admin_username="bench", admin_telegram_id=None, new_key=False
        )
        api, api_url = launch_api(database_url, root / "api.log")
        await wait_for_api(api, api_url, root / "api.log")
        settings = InfraSettings(
            redis_url=redis_server.url,
            api_url=api_url,
            api_key=admin["service_key"],
            data_dir=root / "infra",
            local_deploy_root=root / "d",
            log_format="json",
        )
        headers = {"Authorization": f"Bearer {admin['service_key']}"}
        async with httpx.AsyncClient(base_url=api_url, headers=headers) as client:

            async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
                response = await client.post(path, json=body)
                response.raise_for_status()
                created: dict[str, Any] = response.json()
                return created

            await post("/api/servers", {"name": "local", "address": "127.0.0.1", "is_local": True})
            names = ("by-hand", "service", "pair-1", "pair-2")
            projects = {
                n: await post(
                    "/api/projects",
                    {"name": n, "owner_id": admin["admin_user_id"], "modules": ["backend"]},
                )
                for n in names
            }
        repos = {n: tiny_app_repo(root / n) for n in names}
        ports = {n: free_port() for n in names}

        def new_commit(name: str, version: str) -> AnsibleDeployMessage:
            sha = commit(repos[name], version)
            return local_deploy(repos[name], sha, ports[name], projects[name])

        deps = build_adapters(settings)
        settings.jobs_dir.mkdir(parents=True, exist_ok=True)
        redis = connect_redis(redis_server.url)
        service = ServiceProcess(settings, root / "infra-service.log")
        services.append(service)
        service.start()
        a_times, b_times = [], []
        try:
            # Round 0 warms up: it starts the supervisor and releases both projects once.
            for round_ in range(rounds + 1):
                a = await by_hand(deps, settings, new_commit("by-hand", f"{round_}"))
                b = await through_service(redis, new_commit("service", f"{round_}"))
                if round_:
                    a_times.append(a)
                    b_times.append(b)
                    print(f"round {round_}: by hand {a:.2f} s, service {b:.2f} s", flush=True)
            service.stop()

            probed = ServiceProcess(
                settings.model_copy(update={"loop_lag_probe_ms": 5}), root / "probed.log"
            )
            services.append(probed)
            probed.start()
            pair_times = []
            for pair in range(pairs + 1):
                start = time.perf_counter()
                await asyncio.gather(
                    *(through_service(redis, new_commit(n, f"{pair}")) for n in names[2:])
                )
                if pair:
                    pair_times.append(time.perf_counter() - start)
            probed.stop()
            lag_ms = worst_lag_ms(probed.logs())
            stalls = probed.logs().count('"event loop stalled"')
        finally:
            await redis.aclose()
            await deps.http.aclose()
            await deps.redis.aclose()
    finally:
        for process in services:
            process.stop()
        await stop_supervisor(root / "d")
        if api is not None:
            api.terminate()
            api.wait(30)
        postgres.close()
        redis_server.close()
        shutil.rmtree(root, ignore_errors=True)
    med = statistics.median
    ratios = [b / a for a, b in zip(a_times, b_times, strict=True)]
    print(
        f"by hand {med(a_times):.2f} s ({spread(a_times)}), service {med(b_times):.2f} s "
        f"({spread(b_times)}); per-round ratio {med(ratios):.2f} ({spread(ratios)})"
    )
    print(
        f"two deploys at once {med(pair_times):.2f} s; worst event-loop lag {lag_ms:.1f} ms "
        "(the first pair warms up and counts for the lag)"
    )
    # Each round's A and B ran back to back under the same load: their ratio is the estimate.
    print(
        f"RESULT deploy ratio={med(ratios):.2f} ratio_spread={spread(ratios)} "
        f"service_s={med(b_times):.2f} by_hand_s={med(a_times):.2f} rounds={rounds} "
        f"pair_s={med(pair_times):.2f} loop_lag_worst_ms={lag_ms:.1f} "
        f"loop_stalls_over_50ms={stalls}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.pairs))
