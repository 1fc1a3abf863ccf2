from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from infra_service.config import InfraSettings
from infra_testing import CANARY, Harness, ServiceProcess, local_deploy_root
from redis.asyncio import Redis


@pytest_asyncio.fixture
async def deploy_root() -> AsyncIterator[Path]:
    async with local_deploy_root() as root:
        yield root


@pytest.fixture
def settings(live_api: LiveApi, redis_url: str, tmp_path: Path, deploy_root: Path) -> InfraSettings:
    return InfraSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=tmp_path / "infra",
        local_deploy_root=deploy_root,
        ssh_backoff_s=0.2,
        ssh_connect_timeout_s=3,
        health_timeout_s=10,
        job_timeout_s=240,
    )


@pytest_asyncio.fixture
async def harness(
    settings: InfraSettings,
    live_api: LiveApi,
    redis_client: Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Harness]:
    """infra-service as its own process; its log is printed at teardown, which pytest shows
    when the test failed."""
    monkeypatch.setenv("CODEGEN_SECRET_CANARY_SECRETS", f"CANARY={CANARY}\nOTHER=plain-value")
    monkeypatch.setenv("CODEGEN_SECRET_GIT_TOKEN", f"{CANARY}-token")
    service = ServiceProcess(settings, tmp_path / "infra-service.log")
    service.start()
    try:
        async with httpx.AsyncClient(
            base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
        ) as api:
            yield Harness(service, redis_client, api, tmp_path)
    finally:
        try:
            await asyncio.to_thread(service.stop)
        finally:
            print(f"--- infra-service's output ({service.log_file}) ---\n{service.logs()}")


@pytest_asyncio.fixture
async def local_server(harness: Harness) -> dict[str, Any]:
    return await harness.server(name="local", address="127.0.0.1", is_local=True, status="active")
