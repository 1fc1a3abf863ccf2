"""Production mode, proven on a real engine: the images built from the local base image, the
repository's compose.yaml brought up with podman-compose (Postgres and Redis servers in
containers, two replicas of langgraph, scaffolder and infra-service, worker-manager
making workers as containers through the engine's socket), a VPS-like SSH server as the deploy
target. A wish said in the chat goes through the scripted PO and developer to a deploy on that
server; while the developer works, one replica of each scaled service is killed (SIGKILL), and the
flow still ends with a URL that answers. Afterwards nothing of the project is left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from codegen_stack.chat import LocalChat
from compose_testing import (
    SCALED,
    ComposeProject,
    build_images,
    build_target_image,
    leftovers,
    podman,
    prepare_project,
    remove_leftovers,
)
from redis.asyncio import Redis
from shared.testing.waiting import eventually

TELEGRAM_ID = 4242
WISH = "I want a small API to keep my todo list."

pytestmark = [
    pytest.mark.slow(
        "builds every service's image, starts a compose project of 13 containers, and runs the "
        "whole cycle with workers as containers and a deploy over SSH"
    ),
    pytest.mark.timeout(3600),
]


@pytest.fixture(scope="module")
def images() -> None:
    build_images()
    build_target_image()


@pytest.fixture
def project(tmp_path: Path, docker_host: str, images: None) -> Iterator[ComposeProject]:
    remove_leftovers()  # an earlier run's, killed before its teardown
    compose = prepare_project(tmp_path, docker_host, telegram_id=TELEGRAM_ID)
    try:
        compose.up()
        yield compose
    except BaseException:
        print(compose.all_logs())
        raise
    finally:
        compose.down()


async def test_a_wish_becomes_a_live_url_under_compose_while_replicas_are_killed(
    project: ComposeProject,
) -> None:
    settings = project.settings
    for service in SCALED:
        assert len(project.containers(service)) == 2, service
    api_url = f"http://{settings['API_PUBLISH']}"
    headers = {"Authorization": f"Bearer {settings['SERVICE_API_KEY']}"}
    redis = Redis(
        host="127.0.0.1",
        port=project.redis_port,
        password=settings["REDIS_PASSWORD"],
        decode_responses=True,
    )
    try:
        async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as api:
            await eventually(lambda: _answers(api, "/health"), within=600, interval=1)
            await _register_the_target(api)
            await eventually(lambda: _server_active(api), within=900, interval=2)

            chat = LocalChat(redis, TELEGRAM_ID)
            await chat.say(WISH)
            engineering = await eventually(
                lambda: _task(api, "engineering", "running"), within=900, interval=1
            )
            killed = [project.containers(service)[0] for service in SCALED]
            for container in killed:
                podman("kill", "--signal", "KILL", container)

            deploy = await eventually(
                lambda: _task(api, "deploy", "completed"), within=1500, interval=2
            )
            engineering = (await api.get(f"/api/tasks/{engineering['id']}")).json()
    except BaseException:
        print(project.all_logs())
        raise
    finally:
        await redis.aclose()

    assert engineering["status"] == "completed", engineering
    result: dict[str, Any] = deploy["result"]
    assert result["commit_sha"] == engineering["result"]["commit_sha"]
    assert result["deployed_url"].startswith("http://target:")
    # The URL is the deploy network's: it answers there, from any of the project's containers.
    [api_container] = project.containers("api")
    fetched = project.exec(
        api_container, "python3", "-c",
        "import sys, urllib.request; r = urllib.request.urlopen(sys.argv[1], timeout=10); "
        "print(r.status)",
        result["health_url"],
    )  # fmt: skip
    assert (fetched.returncode, fetched.stdout.strip()) == (0, "200"), fetched.stderr
    for service in SCALED:
        assert project.containers(service), f"no {service} replica runs"
    for container in project.containers():
        if "target" in container or "migrate" in container:
            continue
        check = project.healthy(container)
        assert check.returncode == 0, (container, check.stdout, check.stderr)

    project.down()
    assert leftovers() == {"containers": [], "volumes": [], "networks": []}


async def _answers(api: httpx.AsyncClient, path: str) -> bool:
    try:
        return (await api.get(path)).status_code == 200
    except httpx.HTTPError:
        return False


async def _register_the_target(api: httpx.AsyncClient) -> None:
    body = {
        "name": "target",
        "address": "target",
        "ssh_user": "root",
        "ssh_port": 22,
        "ssh_key_ref": "file:ssh/target",
        "status": "pending_setup",
    }
    response = await api.post("/api/servers", json=body)
    assert response.status_code == 201, response.text


async def _server_active(api: httpx.AsyncClient) -> bool:
    [server] = (await api.get("/api/servers", params={"name": "target"})).json()
    assert server["status"] != "error", server
    return bool(server["status"] == "active")


async def _task(api: httpx.AsyncClient, kind: str, status: str) -> dict[str, Any] | None:
    tasks = (await api.get("/api/tasks", params={"limit": 100})).json()
    ended_badly = [
        (t["type"], t["status"], t.get("error"), t.get("result"))
        for t in tasks
        if t["status"] in ("failed", "cancelled")
    ]
    assert not ended_badly, ended_badly
    found = [t for t in tasks if t["type"] == kind and t["status"] == status]
    return dict(found[0]) if found else None
