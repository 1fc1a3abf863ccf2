"""Deploy latency on the `local` target: infra-service (queue → result) against the same playbook
run straight through ansible-runner, a no-op redeploy, and two deploys at once against two in a
row; same run, medians.

The API is replaced by an in-memory inventory: this measures the deploy path, not REST calls.

Usage: python -P bench/deploy.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from infra_service.adapters.git_sources import GitSources
from infra_service.bootstrap import Container, bootstrap
from infra_service.config import InfraSettings
from infra_service.domain.results import result_id
from infra_service.handlers.jobs import host_vars, target_of
from infra_service.main import serve
from infra_service.ports import PlaybookJob
from redis.asyncio import Redis
from shared.contracts import (
    AnsibleDeployMessage,
    IncidentSeverity,
    ServerRead,
    ServerStatus,
    utc_now,
)
from shared.streams import RedisStreamPublisher, connect_redis
from shared.testing.servers import RedisServer, free_port

sys.path.insert(0, str(Path(__file__).parents[1] / "services" / "infra-service" / "tests"))
from infra_testing import commit, stop_supervisor, tiny_app_repo


class MemoryInventory:
    def __init__(self) -> None:
        self.local = ServerRead(
            id="0" * 32,
            name="local",
            address="127.0.0.1",
            ssh_user="root",
            ssh_port=22,
            ssh_key_ref=None,
            is_local=True,
            provider_id=None,
            specs={},
            status=ServerStatus.ACTIVE,
            last_health_check_at=None,
            created_at=utc_now(),
        )

    async def server(self, handle: str) -> ServerRead | None:
        return self.local if handle == "local" else None

    async def set_server_status(self, server_id: str, status: ServerStatus) -> None:
        pass

    async def open_incident(
        self, server_id: str, severity: IncidentSeverity, title: str, details: str
    ) -> None:
        pass

    async def port_for(self, server_id: str, project_id: str, service_name: str) -> int:
        return free_port()

    async def record_deployment(self, **_: Any) -> None:
        pass


async def deploy(redis: Redis, message: AnsibleDeployMessage) -> float:
    start = time.perf_counter()
    await RedisStreamPublisher(redis).publish("ansible:deploy:queue", message)
    wanted = result_id(message.request_id)
    while True:
        raw = cast(list[tuple[str, dict[str, str]]], await redis.xrange("deploy:results"))
        found = [json.loads(f["data"]) for _, f in raw if wanted in f["data"]]
        if found:
            assert found[0]["status"] == "success", found[0]
            return time.perf_counter() - start
        await asyncio.sleep(0.01)


def message(repo: Path, sha: str, name: str, port: int) -> AnsibleDeployMessage:
    return AnsibleDeployMessage(
        project_id=name,
        project_name=name,
        repo_full_name=str(repo),
        commit_sha=sha,
        server="local",
        port=port,
    )


async def main(runs: int) -> None:
    redis_server = RedisServer()
    redis_server.start()
    root = Path(tempfile.mkdtemp(prefix="cg-bench-", dir="/tmp"))
    settings = InfraSettings(
        redis_url=redis_server.url,
        data_dir=root / "infra",
        local_deploy_root=root / "d",
        deploy_concurrency=2,
    )
    inventory = MemoryInventory()
    deps = dataclasses.replace(bootstrap(settings), inventory=inventory)
    redis = connect_redis(redis_server.url)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(deps, stop))
    try:
        repos = {name: tiny_app_repo(root / name) for name in ("a", "b")}
        ports = {name: free_port() for name in repos}
        first, noop, direct, pair, serial = [], [], [], [], []
        for run in range(runs):
            shas = {name: commit(repo, f"{run}.1") for name, repo in repos.items()}
            first.append(await deploy(redis, message(repos["a"], shas["a"], "a", ports["a"])))
            noop.append(await deploy(redis, message(repos["a"], shas["a"], "a", ports["a"])))
            sha = commit(repos["a"], f"{run}.2")
            direct.append(await playbook_alone(deps, inventory.local, repos["a"], sha))
            shas = {name: commit(repo, f"{run}.3") for name, repo in repos.items()}
            start = time.perf_counter()
            await asyncio.gather(
                *(deploy(redis, message(repos[n], shas[n], n, ports[n])) for n in repos)
            )
            pair.append(time.perf_counter() - start)
            shas = {name: commit(repo, f"{run}.4") for name, repo in repos.items()}
            start = time.perf_counter()
            for n in repos:
                await deploy(redis, message(repos[n], shas[n], n, ports[n]))
            serial.append(time.perf_counter() - start)
    finally:
        stop.set()
        await running
        await redis.aclose()
        stop_supervisor(root / "d")
        redis_server.stop()
        shutil.rmtree(root, ignore_errors=True)
    med = statistics.median
    print(f"first deploy {med(first):.2f} s, playbook alone {med(direct):.2f} s")
    print(f"no-op redeploy {med(noop):.2f} s")
    print(f"two deploys at once {med(pair):.2f} s, in a row {med(serial):.2f} s")
    print(
        f"RESULT deploy overhead_ratio={med(first) / med(direct):.2f} "
        f"deploy_s={med(first):.2f} playbook_s={med(direct):.2f} noop_s={med(noop):.2f} "
        f"parallel_speedup={med(serial) / med(pair):.2f}"
    )


async def playbook_alone(deps: Container, server: ServerRead, repo: Path, sha: str) -> float:
    """The same deploy_project.yml through the adapter, without queue, fetch or bookkeeping."""
    work = Path(tempfile.mkdtemp(dir=deps.jobs_dir))
    archive = await GitSources().archive(str(repo), sha, work / "source", None)
    job = PlaybookJob(
        playbook="deploy_project.yml",
        target=target_of(server),
        extravars={
            **host_vars(server, deps),
            "project_name": "a",
            "commit": sha,
            "source_archive": str(archive),
            "services": [
                {
                    "name": "web",
                    "port": free_port(),
                    "run": "exec python3 app.py",
                    "build": "touch BUILT",
                    "health": "/health",
                    "directory": ".",
                }
            ],
            "releases_kept": 3,
            "health_timeout_s": 30,
        },
    )
    start = time.perf_counter()
    outcome = await deps.playbooks.run(job)
    elapsed = time.perf_counter() - start
    shutil.rmtree(work, ignore_errors=True)
    assert outcome.succeeded, outcome.failures
    return elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
