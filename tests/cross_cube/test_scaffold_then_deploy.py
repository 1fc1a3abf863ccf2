"""Across cubes: a project the scaffolder renders from the service template is deployed by the
real infra-service on the `local` target, and its health URL answers. Every service a real
process, with the real API, Redis and Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from infra_service.config import InfraSettings
from infra_testing import Harness, ServiceProcess, local_deploy, local_deploy_root
from redis.asyncio import Redis
from scaffolder.config import ScaffolderSettings
from shared.contracts import ScaffolderMessage
from shared.streams import RedisStreamPublisher
from shared.testing import processes
from shared.testing.processes import settings_env
from shared.testing.servers import free_port
from shared.testing.waiting import eventually

SCAFFOLDER = str(Path(sys.executable).parent / "scaffolder")


@pytest_asyncio.fixture
async def deploy_root() -> AsyncIterator[Path]:
    async with local_deploy_root() as root:
        yield root


@pytest_asyncio.fixture
async def harness(
    live_api: LiveApi, redis_url: str, redis_client: Redis, tmp_path: Path, deploy_root: Path
) -> AsyncIterator[Harness]:
    settings = InfraSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=tmp_path / "infra",
        local_deploy_root=deploy_root,
        health_timeout_s=120,
        job_timeout_s=600,
    )
    infra = ServiceProcess(settings, tmp_path / "infra-service.log")
    infra.start()
    try:
        async with httpx.AsyncClient(
            base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
        ) as api:
            yield Harness(infra, redis_client, api, tmp_path)
    finally:
        await asyncio.to_thread(infra.stop)


@pytest.mark.slow("the deploy builds the rendered backend: pip installs FastAPI and uvicorn")
@pytest.mark.timeout(900)
async def test_a_scaffolded_backend_is_deployed_and_answers_on_its_health_url(
    harness: Harness, live_api: LiveApi, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    scaffolder_settings = ScaffolderSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=tmp_path / "scaffolder",
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    scaffolder = processes.ServiceProcess(
        [SCAFFOLDER], env | settings_env(scaffolder_settings), tmp_path / "scaffolder.log"
    )
    try:
        await harness.server(name="local", address="127.0.0.1", is_local=True, status="active")
        project = await harness.project("shop")
        message = ScaffolderMessage(
            project_id=project["id"], project_name="shop", modules=["backend"]
        )
        await RedisStreamPublisher(redis_client).publish("scaffolder:queue", message)
        scaffolded = await _result(redis_client, message.request_id)
        assert scaffolded["status"] == "success", scaffolded

        port = free_port()
        repo = Path(scaffolded["repo_url"])
        deploy = local_deploy(repo, scaffolded["commit_sha"], port, project, task_id="deploy-1")
        deployed = await harness.deploy(deploy, within=600)

        assert deployed["status"] == "success", (deployed["error"], deployed["stdout_tail"])
        assert (deployed["request_id"], deployed["task_id"]) == (deploy.request_id, "deploy-1")
        # The health URL the result names, from the rendered .project.yml, is the smoke check's.
        assert deployed["health_url"] == f"{deployed['deployed_url']}/health"
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(deployed["health_url"])
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok"}
    finally:
        scaffolder.stop()


async def _result(redis: Redis, request_id: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange("scaffolder:results"))
        for _, fields in entries:
            data = json.loads(fields["data"])
            if data["request_id"] == request_id:
                return cast(dict[str, Any], data)
        return None

    found = await eventually(find, 300)
    assert found is not None
    return found
