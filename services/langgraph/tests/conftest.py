from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from langgraph_testing import Api, Langgraph, fast_settings, live_site
from redis.asyncio import Redis
from shared.testing.stage_fakes import FakeStages


@pytest.fixture
def site() -> Iterator[str]:
    with live_site() as url:
        yield url


@pytest_asyncio.fixture
async def stages(redis_client: Redis, site: str, api: Api) -> AsyncIterator[FakeStages]:
    fakes = FakeStages(redis_client, deployed_url=site, api=api.client)
    await fakes.start()
    try:
        yield fakes
    finally:
        await fakes.stop()


@pytest.fixture
def langgraph(live_api: LiveApi, redis_url: str, tmp_path: Path) -> Iterator[Langgraph]:
    service = Langgraph(fast_settings(live_api, redis_url), tmp_path / "langgraph.log")
    try:
        yield service
    finally:
        service.stop()


@pytest_asyncio.fixture
async def api(live_api: LiveApi) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as client:
        yield Api(client, live_api)
