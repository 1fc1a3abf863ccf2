"""Provisioning retries with real processes: the scheduler asks infra-service to set up every
server still waiting for its setup, again and again with growing delays while it cannot, and
forgets a server once it is set up."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from infra_service.config import InfraSettings
from infra_testing import ServiceProcess, local_deploy_root
from redis.asyncio import Redis
from scheduler.adapters.redis_provisioning import RedisProvisioningRetries
from scheduler_testing import SchedulerProcess, scheduler_settings
from shared.contracts import OutcomeStatus, ProvisionerResult
from shared.streams import RedisStreamPublisher
from shared.testing.hostile import RawFields, dead_letters, hostile_entries, settled, xadd_raw
from shared.testing.servers import free_port
from shared.testing.waiting import eventually

INTERVAL_S = 0.2
BACKOFF_S = 1.0
BACKOFF_MAX_S = 4.0
# Long enough that one request sets the local server up before a second could go.
ONE_REQUEST_BACKOFF_S = 600.0

StartScheduler = Callable[..., SchedulerProcess]


@pytest_asyncio.fixture
async def deploy_root() -> AsyncIterator[Path]:
    async with local_deploy_root() as root:
        yield root


@pytest.fixture
def infra_service(
    live_api: LiveApi, redis_url: str, tmp_path: Path, deploy_root: Path
) -> Iterator[ServiceProcess]:
    """infra-service as its own process; a server it cannot reach is given up on at once."""
    settings = InfraSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=tmp_path / "infra",
        local_deploy_root=deploy_root,
        ssh_attempts=1,
        ssh_connect_timeout_s=3,
        job_timeout_s=240,
    )
    service = ServiceProcess(settings, tmp_path / "infra-service.log")
    service.start()
    try:
        yield service
    finally:
        try:
            service.stop()
        finally:
            print(f"--- infra-service's output ---\n{service.logs()}")


@pytest.fixture
def start_scheduler(live_api: LiveApi, redis_url: str, tmp_path: Path) -> Iterator[StartScheduler]:
    started: list[SchedulerProcess] = []

    def start(**fields: Any) -> SchedulerProcess:
        settings = scheduler_settings(
            redis_url=redis_url, api_url=live_api.url, api_key=live_api.service_key, **fields
        )
        started.append(SchedulerProcess(settings, tmp_path / f"scheduler-{len(started)}.log"))
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


async def server_named(api: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
    response = await api.get("/api/servers", params={"name": name})
    response.raise_for_status()
    found = cast(list[dict[str, Any]], response.json())
    return found[0] if found else None


async def entries(redis: Redis, stream: str) -> list[tuple[int, dict[str, Any]]]:
    """(ms of Redis's clock when it was added, message) of every entry."""
    raw = cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
    return [(int(entry_id.split("-")[0]), json.loads(fields["data"])) for entry_id, fields in raw]


async def requests_for(redis: Redis, server_id: str) -> list[tuple[int, dict[str, Any]]]:
    found = await entries(redis, "provisioner:queue")
    return [(at, message) for at, message in found if message["server_handle"] == server_id]


async def results_of(redis: Redis, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    found = {
        result["request_id"]: result for _, result in await entries(redis, "provisioner:results")
    }
    return {request_id: found[request_id] for request_id in request_ids if request_id in found}


@pytest.mark.timeout(180)
async def test_a_pending_local_server_is_set_up_by_a_retry_and_then_forgotten(
    infra_service: ServiceProcess,
    start_scheduler: StartScheduler,
    api: httpx.AsyncClient,
    redis_client: Redis,
) -> None:
    server = await register(
        api, name="local", address="127.0.0.1", is_local=True, status="pending_setup"
    )
    start_scheduler(
        provisioning_interval_s=INTERVAL_S, provisioning_backoff_s=ONE_REQUEST_BACKOFF_S
    )
    retries = RedisProvisioningRetries(redis_client)

    async def active() -> bool:
        found = await server_named(api, "local")
        return found is not None and found["status"] == "active"

    await eventually(active, within=150)

    async def forgotten() -> bool:
        return await retries.retry_state(server["id"]) is None

    await eventually(forgotten, within=20)
    [(_, request)] = await requests_for(redis_client, server["id"])
    assert request["request_id"] == f"provision.{server['id']}.1"
    result = (await results_of(redis_client, [request["request_id"]]))[request["request_id"]]
    assert result["status"] == "success", result


@pytest.mark.timeout(180)
async def test_a_server_that_cannot_be_reached_is_retried_with_growing_delays_and_never_set_up(
    infra_service: ServiceProcess,
    start_scheduler: StartScheduler,
    api: httpx.AsyncClient,
    redis_client: Redis,
) -> None:
    # Nothing listens on that port: every setup finds the server unreachable.
    server = await register(
        api, name="far", address="127.0.0.1", ssh_port=free_port(), status="pending_setup"
    )
    start_scheduler(
        provisioning_interval_s=INTERVAL_S,
        provisioning_backoff_s=BACKOFF_S,
        provisioning_backoff_max_s=BACKOFF_MAX_S,
    )

    async def five_requests() -> list[tuple[int, dict[str, Any]]] | None:
        found = await requests_for(redis_client, server["id"])
        return found if len(found) >= 5 else None

    sent = (await eventually(five_requests, within=120))[:5]

    assert [request["request_id"] for _, request in sent] == [
        f"provision.{server['id']}.{number}" for number in range(1, 6)
    ]
    gaps_ms = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(sent)]
    # Each request waits for the last one's delay, doubled each time up to the longest.
    assert all(gap >= delay * 1000 for gap, delay in zip(gaps_ms, [1, 2, 4, 4], strict=True)), (
        gaps_ms
    )
    first_results = await eventually(
        lambda: results_of(redis_client, [sent[0][1]["request_id"]]), within=60
    )
    assert [result["status"] for result in first_results.values()] == ["failed"]
    found = await server_named(api, "far")
    assert found is not None
    assert found["status"] != "active"
    state = await RedisProvisioningRetries(redis_client).retry_state(server["id"])
    assert state is not None
    assert state[0] >= 5


@pytest.mark.timeout(180)
async def test_in_embedded_mode_the_local_machine_is_registered_and_set_up_from_an_empty_api(
    infra_service: ServiceProcess,
    start_scheduler: StartScheduler,
    api: httpx.AsyncClient,
) -> None:
    start_scheduler(
        server_provider="local",
        server_sync_interval_s=INTERVAL_S,
        provisioning_interval_s=INTERVAL_S,
        provisioning_backoff_s=ONE_REQUEST_BACKOFF_S,
    )

    async def active() -> dict[str, Any] | None:
        found = await server_named(api, "local")
        return found if found is not None and found["status"] == "active" else None

    local = await eventually(active, within=150)

    assert local["is_local"] is True
    assert local["address"] == "127.0.0.1"
    assert [server["name"] for server in (await api.get("/api/servers")).json()] == ["local"]


def examples(strategy: st.SearchStrategy[RawFields], count: int) -> list[RawFields]:
    """`count` entries drawn from `strategy`, the same ones every run."""
    drawn: list[RawFields] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(entry: RawFields) -> None:
        drawn.append(entry)

    draw()
    return drawn


@pytest.mark.timeout(120)
async def test_hostile_and_stray_results_change_nothing_and_the_scheduler_reads_on(
    start_scheduler: StartScheduler, api: httpx.AsyncClient, redis_client: Redis, tmp_path: Path
) -> None:
    # No infra-service: the request waits in its queue, and the results are the test's.
    server = await register(api, name="web-1", address="203.0.113.1", status="pending_setup")
    scheduler = start_scheduler(
        provisioning_interval_s=INTERVAL_S, provisioning_backoff_s=ONE_REQUEST_BACKOFF_S
    )
    retries = RedisProvisioningRetries(redis_client)
    state = await eventually(lambda: retries.retry_state(server["id"]), within=30)
    latest = f"provision.{server['id']}.1"
    marker = tmp_path / "hostile-marker"
    hostile = examples(
        hostile_entries(
            ProvisionerResult(
                request_id=latest, server_handle=server["id"], status=OutcomeStatus.SUCCESS
            ),
            marker,
        ),
        40,
    )
    stray = [
        ProvisionerResult(request_id=request_id, server_handle=handle, status=status)
        for request_id, handle, status in [
            ("4f2a9c0d8e7b4a1c9d3e5f6a7b8c9d0e", server["id"], OutcomeStatus.SUCCESS),
            (f"provision.{server['id']}.2", server["id"], OutcomeStatus.SUCCESS),
            (latest, "another-server", OutcomeStatus.SUCCESS),
            (latest, server["id"], OutcomeStatus.FAILED),
            # A success the API does not confirm: the server still waits for its setup.
            (latest, server["id"], OutcomeStatus.SUCCESS),
        ]
    ]

    written = [await xadd_raw(redis_client, "provisioner:results", entry) for entry in hostile]
    for result in stray:
        await RedisStreamPublisher(redis_client).publish("provisioner:results", result)
    await settled(redis_client, "provisioner:results", "scheduler", within=60)

    assert await retries.retry_state(server["id"]) == state
    assert [
        request["request_id"] for _, request in await requests_for(redis_client, server["id"])
    ] == [latest]
    letters = await dead_letters(redis_client, "provisioner:results")
    assert set(letters) <= set(written)
    assert all(letter.reason and letter.error for letter in letters.values())
    assert scheduler.process.exit_code is None, "the scheduler still runs"
    assert not marker.exists(), "an injected command ran"
