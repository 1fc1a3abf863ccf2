"""Server sync with real processes: the scheduler against the fake Hetzner Cloud and the real API.
Servers appear pending their setup, change, and vanish into maintenance with one incident; a bad
token fails the run and changes nothing; every page of the provider's list is read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from redis.asyncio import Redis
from scheduler_testing import SchedulerProcess, runs, scheduler_settings, wait_for_runs
from shared.contracts import JobOutcome
from shared.testing.fake_hetzner import FakeHetzner
from shared.testing.waiting import eventually

INTERVAL_S = 0.5
KEY_REF = "file:keys/hetzner"

StartScheduler = Callable[[str], SchedulerProcess]


@pytest.fixture
def hetzner() -> Iterator[FakeHetzner]:
    with FakeHetzner() as fake:
        yield fake


@pytest.fixture
def start_scheduler(
    hetzner: FakeHetzner, live_api: LiveApi, redis_url: str, tmp_path: Path
) -> Iterator[StartScheduler]:
    """A scheduler syncing from the fake Hetzner with the token it is given (by reference)."""
    started: list[SchedulerProcess] = []

    def start(token: str) -> SchedulerProcess:
        settings = scheduler_settings(
            redis_url=redis_url,
            api_url=live_api.url,
            api_key=live_api.service_key,
            server_provider="hetzner",
            hetzner_api_url=hetzner.url,
            hetzner_token_ref="env:HETZNER_TOKEN",
            provider_ssh_key_ref=KEY_REF,
            server_sync_interval_s=INTERVAL_S,
        )
        log = tmp_path / f"scheduler-{len(started)}.log"
        extra_env = {"CODEGEN_SECRET_HETZNER_TOKEN": token}
        started.append(SchedulerProcess(settings, log, extra_env=extra_env))
        return started[-1]

    try:
        yield start
    finally:
        for scheduler in started:
            scheduler.stop()


@pytest_asyncio.fixture
async def api(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {live_api.service_key}"}
    async with httpx.AsyncClient(base_url=live_api.url, headers=headers) as client:
        yield client


async def register(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post("/api/servers", json=fields)
    response.raise_for_status()
    return cast(dict[str, Any], response.json())


async def servers(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await api.get("/api/servers", params={"limit": 500})
    response.raise_for_status()
    return {server["name"]: server for server in response.json()}


async def incidents(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/api/incidents", params={"limit": 500})
    response.raise_for_status()
    return cast(list[dict[str, Any]], response.json())


async def more_runs(redis: Redis, count: int) -> None:
    """Wait until `count` more runs of the job have ended than have now."""
    before = len(await runs(redis, "server_sync"))
    await wait_for_runs(redis, "server_sync", before + count)


@pytest.mark.timeout(120)
async def test_servers_appear_change_and_vanish_as_the_provider_says(
    hetzner: FakeHetzner,
    start_scheduler: StartScheduler,
    api: httpx.AsyncClient,
    redis_client: Redis,
) -> None:
    local = await register(api, name="local", address="127.0.0.1", is_local=True, status="active")
    by_hand = await register(api, name="db-1", address="198.51.100.5", status="active")
    web_1 = hetzner.add_server("web-1", ipv4="203.0.113.11", cores=2, memory=4.0, disk=40)
    web_2 = hetzner.add_server("web-2", ipv4="203.0.113.12")
    hetzner.add_server("local", ipv4="203.0.113.13")
    hetzner.add_server("Db_Main", ipv4="203.0.113.14")
    scheduler = start_scheduler(hetzner.token)

    async def both_registered() -> dict[str, dict[str, Any]] | None:
        found = await servers(api)
        return found if {"web-1", "web-2"} <= found.keys() else None

    registered = await eventually(both_registered, within=60)

    assert registered["web-1"]["status"] == "pending_setup"
    assert registered["web-1"]["address"] == "203.0.113.11"
    assert registered["web-1"]["provider_id"] == str(web_1)
    assert registered["web-1"]["ssh_key_ref"] == KEY_REF
    assert registered["web-1"]["specs"] == {"cpu_cores": 2, "memory_mb": 4096, "disk_gb": 40}
    assert registered["web-2"]["provider_id"] == str(web_2)

    hetzner.change_server(web_1, ipv4="203.0.113.21", cores=4, memory=16.0, disk=160)
    hetzner.remove_server(web_2)

    async def followed() -> dict[str, dict[str, Any]] | None:
        found = await servers(api)
        changed = found["web-1"]["address"] == "203.0.113.21"
        return found if changed and found["web-2"]["status"] == "maintenance" else None

    await eventually(followed, within=60)
    await more_runs(redis_client, 3)

    after = await servers(api)
    assert after["web-1"]["specs"] == {"cpu_cores": 4, "memory_mb": 16384, "disk_gb": 160}
    assert after["web-1"]["status"] == "pending_setup"
    assert after["web-2"]["status"] == "maintenance"
    [gone] = await incidents(api)
    assert gone["title"] == "Server web-2 is gone from the provider"
    assert (gone["severity"], gone["status"], gone["server_id"]) == (
        "high",
        "open",
        after["web-2"]["id"],
    )
    # The local server and one registered by hand are not the provider's.
    assert after["local"] == local
    assert after["db-1"] == by_hand
    assert "Db_Main" not in after
    assert all(run.outcome is JobOutcome.SUCCEEDED for run in await runs(redis_client))
    log = scheduler.log.read_text()
    assert "a provider's server is not synced" in log
    assert "Db_Main" in log
    assert hetzner.token not in log
    assert all(request.bearer and request.authorized for request in hetzner.requests)


@pytest.mark.timeout(120)
async def test_a_bad_token_fails_the_run_naming_the_401_and_changes_nothing(
    hetzner: FakeHetzner,
    start_scheduler: StartScheduler,
    api: httpx.AsyncClient,
    redis_client: Redis,
) -> None:
    wrong = "wrong-token-4f2a9c0d8e7b4a1c9d3e5f6a7b8c9d0e"
    known = await register(
        api, name="web-0", address="203.0.113.10", provider_id="999", status="active"
    )
    hetzner.add_server("web-1")
    scheduler = start_scheduler(wrong)

    history = await wait_for_runs(redis_client, "server_sync", 2)

    assert {run.outcome for run in history} == {JobOutcome.FAILED}
    error = history[0].error or ""
    assert "ProviderRefused" in error
    assert "401" in error
    assert wrong not in error
    assert hetzner.token not in error
    assert await servers(api) == {"web-0": known}
    assert await incidents(api) == []
    assert wrong not in scheduler.log.read_text()
    assert [request.authorized for request in hetzner.requests][:2] == [False, False]


@pytest.mark.timeout(120)
async def test_every_page_of_the_providers_list_is_synced(
    hetzner: FakeHetzner,
    start_scheduler: StartScheduler,
    api: httpx.AsyncClient,
    redis_client: Redis,
) -> None:
    for n in range(120):
        hetzner.add_server(f"node-{n:03}", ipv4=f"198.51.100.{n}")
    start_scheduler(hetzner.token)

    [first, *_] = await wait_for_runs(redis_client, "server_sync", 1)

    assert first.outcome is JobOutcome.SUCCEEDED, first.error
    assert first.summary["listed"] == first.summary["registered"] == 120
    found = await servers(api)
    assert sorted(found) == [f"node-{n:03}" for n in range(120)]
    assert {server["status"] for server in found.values()} == {"pending_setup"}
    pages = [request.query for request in hetzner.requests][:3]
    assert pages == [{"page": str(page), "per_page": "50"} for page in (1, 2, 3)]
