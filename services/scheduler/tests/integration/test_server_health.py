"""Server health end to end: the scheduler and infra-service as real processes, the real API and
Redis, and an sshd (podman) the test starts when a server should answer. A server that stops
answering is one outage: unreachable, one incident, however many checks find it silent; when it
answers again it is active and the incident resolved. The `local` server stays active."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import docker
import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from docker.models.containers import Container
from infra_service.config import InfraSettings
from redis.asyncio import Redis
from scheduler_testing import SchedulerProcess, runs, scheduler_settings, wait_for_runs
from shared.testing.hostile import settled
from shared.testing.processes import ServiceProcess, settings_env
from shared.testing.servers import free_port
from shared.testing.waiting import eventually

QUEUE, RESULTS = "infra:health:queue", "infra:health:results"
INFRA_SERVICE = str(Path(sys.executable).parent / "infra-service")
# infra-service's SSH test server (sshd on Debian): its image is built once and shared.
SSHD_DOCKERFILE = (
    Path(__file__).resolve().parents[3] / "infra-service/tests/integration/sshd/Dockerfile"
)
KEY_VARIABLE = "CODEGEN_SECRET_SSH_KEY_WEB_1"


@pytest.fixture(scope="module")
def sshd_image(docker_host: str) -> str:
    client = docker.DockerClient(base_url=docker_host)
    tag = "codegen-test-sshd:" + hashlib.sha256(SSHD_DOCKERFILE.read_bytes()).hexdigest()[:12]
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            tar.add(SSHD_DOCKERFILE, arcname="Dockerfile")
        context.seek(0)
        client.images.build(
            fileobj=context, custom_context=True, tag=tag, network_mode="host", rm=True
        )
    return tag


@pytest.fixture
def ssh_key(tmp_path: Path) -> tuple[str, str]:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.read_text(), (tmp_path / "id_ed25519.pub").read_text().strip()


class Sshd:
    """An sshd on `port` accepting our key for root, once `start` is called; removed at the end
    of the test either way."""

    def __init__(self, docker_host: str, image: str, public_key: str) -> None:
        self.client = docker.DockerClient(base_url=docker_host)
        self.image, self.public_key = image, public_key
        self.port = free_port()
        self.container: Container | None = None

    async def start(self) -> None:
        self.container = await asyncio.to_thread(
            self.client.containers.run,
            self.image,
            [
                "sh",
                "-c",
                'echo "$AUTHORIZED_KEY" > /root/.ssh/authorized_keys'
                ' && exec /usr/sbin/sshd -D -e -p "$SSH_PORT" -o ListenAddress=127.0.0.1',
            ],
            environment={"AUTHORIZED_KEY": self.public_key, "SSH_PORT": str(self.port)},
            network_mode="host",
            detach=True,
            labels={"codegen.test": "scheduler-health-sshd"},
        )
        await eventually(lambda: asyncio.to_thread(_listens, self.port), 30)

    async def remove(self) -> None:
        if self.container is not None:
            await asyncio.to_thread(self.container.remove, force=True)


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest_asyncio.fixture
async def sshd(docker_host: str, sshd_image: str, ssh_key: tuple[str, str]) -> AsyncIterator[Sshd]:
    server = Sshd(docker_host, sshd_image, ssh_key[1])
    try:
        yield server
    finally:
        await server.remove()


@pytest_asyncio.fixture
async def api(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as client:
        yield client


@pytest.fixture
def infra_service(
    live_api: LiveApi, redis_url: str, tmp_path: Path, ssh_key: tuple[str, str]
) -> Iterator[ServiceProcess]:
    """infra-service with the server's key among its secrets; a server that does not answer is
    tried twice."""
    settings = InfraSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=tmp_path / "infra",
        local_deploy_root=tmp_path / "deploy",
        health_concurrency=2,
        ssh_attempts=2,
        ssh_backoff_s=0.1,
        ssh_connect_timeout_s=2,
    )
    inherited = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
    env = {name: value for name, value in os.environ.items() if name in inherited}
    env |= settings_env(settings) | {KEY_VARIABLE: ssh_key[0], "PYTHONUNBUFFERED": "1"}
    process = ServiceProcess([INFRA_SERVICE], env, tmp_path / "infra-service.log")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def scheduler(
    live_api: LiveApi, redis_url: str, tmp_path: Path, infra_service: ServiceProcess
) -> Iterator[SchedulerProcess]:
    process = SchedulerProcess(
        scheduler_settings(
            redis_url=redis_url,
            api_url=live_api.url,
            api_key=live_api.service_key,
            server_health_interval_s=1,
        ),
        tmp_path / "scheduler.log",
    )
    try:
        yield process
    finally:
        process.stop()


async def register(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post("/api/servers", json={"status": "active", **fields})
    response.raise_for_status()
    return cast(dict[str, Any], response.json())


async def read(api: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await api.get(path, params=params)
    response.raise_for_status()
    return response.json()


async def results_of(redis: Redis, server: dict[str, Any]) -> list[dict[str, Any]]:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(RESULTS))
    found = [json.loads(fields["data"]) for _, fields in entries]
    return [result for result in found if result["server_id"] == server["id"]]


async def all_answers_taken(redis: Redis) -> None:
    """Every check asked so far answered by infra-service, and every answer handled."""
    await settled(redis, QUEUE, "infra-service", within=60)
    await settled(redis, RESULTS, "scheduler", within=60)


@pytest.mark.timeout(300)  # the first run builds the sshd image
async def test_a_server_that_stops_answering_is_one_outage_until_it_answers_again(
    api: httpx.AsyncClient,
    redis_client: Redis,
    sshd: Sshd,
    scheduler: SchedulerProcess,
) -> None:
    # Registered after the scheduler started: its next run finds them.
    local = await register(api, name="local", address="127.0.0.1", is_local=True)
    web = await register(
        api,
        name="web-1",
        address="127.0.0.1",
        ssh_port=sshd.port,
        ssh_key_ref="env:SSH_KEY_WEB_1",
    )

    async def status_of(server: dict[str, Any], wanted: str) -> bool:
        return bool((await read(api, f"/api/servers/{server['id']}"))["status"] == wanted)

    await eventually(lambda: status_of(web, "unreachable"), 60)
    silent_checks = len(await results_of(redis_client, web))
    # Several more runs find it silent.
    done = len(await runs(redis_client, "server_health"))
    await wait_for_runs(redis_client, "server_health", done + 3)
    await all_answers_taken(redis_client)

    assert len(await results_of(redis_client, web)) >= silent_checks + 3
    [outage] = await read(api, "/api/incidents", server_id=web["id"])
    assert outage["status"] == "open"
    assert outage["severity"] == "high"
    assert outage["title"] == "Server web-1 is unreachable"
    assert "Connection refused" in outage["details"]
    assert await status_of(web, "unreachable")

    await sshd.start()
    await eventually(lambda: status_of(web, "active"), 60)
    await all_answers_taken(redis_client)

    [resolved] = await read(api, "/api/incidents", server_id=web["id"])
    assert resolved["id"] == outage["id"]
    assert resolved["status"] == "resolved"
    assert "the server answered a health check" in resolved["details"]
    assert (await results_of(redis_client, web))[-1]["reachable"] is True
    # The local server answered every check, and nothing was ever wrong with it.
    local_results = await results_of(redis_client, local)
    assert len(local_results) >= 4
    assert all(result["reachable"] for result in local_results)
    assert await status_of(local, "active")
    assert (await read(api, f"/api/servers/{local['id']}"))["last_health_check_at"] is not None
    assert await read(api, "/api/incidents", server_id=local["id"]) == []
    assert all(
        run.outcome.value == "succeeded" for run in await runs(redis_client, "server_health")
    )
