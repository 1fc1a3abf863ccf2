"""Stream housekeeping with a real scheduler, Redis and API: work streams lose only what every
group acknowledged, and a growing dead-letter stream is one incident per growth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from redis.asyncio import Redis
from scheduler_testing import SchedulerProcess, runs, scheduler_settings, wait_for_runs
from shared.testing.waiting import eventually


@pytest_asyncio.fixture
async def api(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as client:
        yield client


async def entry_ids(redis: Redis, stream: str) -> list[str]:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
    return [entry_id for entry_id, _ in entries]


async def deliver(redis: Redis, stream: str, group: str, count: int) -> list[str]:
    answer = cast(
        list[tuple[str, list[tuple[str, dict[str, str]]]]],
        await redis.xreadgroup(group, "test-consumer", {stream: ">"}, count=count),
    )
    return [entry_id for entry_id, _ in answer[0][1]]


async def open_incident_titles(api: httpx.AsyncClient) -> list[str]:
    response = await api.get("/api/incidents", params={"status": "open"})
    return [incident["title"] for incident in response.json()]


@pytest.mark.timeout(120)
async def test_trimming_removes_only_what_every_group_acknowledged(
    redis_url: str, redis_client: Redis, live_api: LiveApi, tmp_path: Path
) -> None:
    queue = "scaffolder:queue"
    ids = [await redis_client.xadd(queue, {"data": str(n)}) for n in range(6)]
    await redis_client.xgroup_create(queue, "scaffolder", id="0")
    first_three = await deliver(redis_client, queue, "scaffolder", 3)
    await redis_client.xack(queue, "scaffolder", first_three[0], first_three[2])
    # engineering:queue is read by two groups; one of them is not made yet.
    intents = "engineering:queue"
    intent_ids = [await redis_client.xadd(intents, {"data": str(n)}) for n in range(2)]
    await redis_client.xgroup_create(intents, "langgraph", id="0")
    await redis_client.xack(
        intents, "langgraph", *await deliver(redis_client, intents, "langgraph", 2)
    )
    scheduler = SchedulerProcess(
        scheduler_settings(
            redis_url=redis_url,
            api_url=live_api.url,
            api_key=live_api.service_key,
            streams_interval_s=0.5,
        ),
        tmp_path / "scheduler.log",
    )
    try:
        await wait_for_runs(redis_client, "streams", 1)
        # The second entry is still pending: it and everything after it stay.
        assert await entry_ids(redis_client, queue) == ids[1:]
        assert await entry_ids(redis_client, intents) == intent_ids

        await redis_client.xack(queue, "scaffolder", first_three[1])
        done = len(await runs(redis_client, "streams"))
        await wait_for_runs(redis_client, "streams", done + 1)
        # Acknowledged now; the last three were never delivered.
        assert await entry_ids(redis_client, queue) == ids[3:]
    finally:
        scheduler.stop()
    history = await runs(redis_client, "streams")
    assert sum(int(run.summary["trimmed"]) for run in history) == 3


@pytest.mark.timeout(120)
async def test_a_growing_dead_letter_stream_is_one_incident_per_growth(
    redis_url: str,
    redis_client: Redis,
    live_api: LiveApi,
    api: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    await redis_client.xadd("deploy:queue:dlq", {"data": "{}"})
    scheduler = SchedulerProcess(
        scheduler_settings(
            redis_url=redis_url,
            api_url=live_api.url,
            api_key=live_api.service_key,
            streams_interval_s=0.5,
        ),
        tmp_path / "scheduler.log",
    )
    try:
        await wait_for_runs(redis_client, "streams", 3)
        assert await open_incident_titles(api) == ["New dead letters: deploy:queue +1 (1)"]

        await redis_client.xadd("deploy:queue:dlq", {"data": "{}"})
        await redis_client.xadd("worker:commands:dlq", {"data": "{}"})

        async def two_incidents() -> list[str] | None:
            titles = await open_incident_titles(api)
            return titles if len(titles) == 2 else None

        titles = await eventually(two_incidents, 30)
        done = len(await runs(redis_client, "streams"))
        await wait_for_runs(redis_client, "streams", done + 2)
    finally:
        scheduler.stop()
    assert sorted(titles) == [
        "New dead letters: deploy:queue +1 (1)",
        "New dead letters: deploy:queue +1 (2), worker:commands +1 (1)",
    ]
    assert len(await open_incident_titles(api)) == 2
    assert cast(dict[str, str], await redis_client.hgetall("scheduler:dlq-seen")) == {
        "deploy:queue:dlq": "2",
        "worker:commands:dlq": "1",
    }
