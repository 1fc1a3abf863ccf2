"""infra-service, as a real process, against hostile entries on infra:health:queue: every entry is
answered (a check of a server the API has), acknowledged (a handle that is no server's: nothing
can be answered) or dead-lettered with a reason; nothing stays pending, no injected command runs,
nothing is written outside the data dir, and the service checks on."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from api.testing import LiveApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from infra_service.config import InfraSettings
from infra_testing import ServiceProcess, short_dir
from redis.asyncio import Redis
from shared.contracts import ServerHealthCheck
from shared.streams import RedisStreamPublisher, connect_redis
from shared.streams.registry import SERVER_HEALTH_QUEUE
from shared.streams.wire import InvalidEntry, decode, text_fields
from shared.testing.hostile import RawFields, dead_letters, hostile_entries, settled, xadd_raw
from shared.testing.servers import free_port
from shared.testing.waiting import eventually

GROUP = "infra-service"
QUEUE, RESULTS = "infra:health:queue", "infra:health:results"
SERVER = "web-1"


@dataclass(frozen=True)
class Service:
    process: ServiceProcess
    redis_url: str
    root: Path
    data: Path
    server: dict[str, Any]


@pytest.fixture
def service(live_api: LiveApi, redis_url: str, tmp_path: Path) -> Iterator[Service]:
    """One process for every example; one consumer, so a request id repeated across entries is
    never in flight twice. The server it checks listens nowhere: each check is one quick try."""
    root = tmp_path / "run"
    root.mkdir()
    deploy_root = short_dir("cg-hostile-")
    with httpx.Client(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as api:
        response = api.post(
            "/api/servers",
            json={"name": SERVER, "address": "127.0.0.1", "ssh_port": free_port()},
        )
        response.raise_for_status()
        server = response.json()
    settings_ = InfraSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=root / "infra",
        local_deploy_root=deploy_root,
        health_concurrency=1,
        ssh_attempts=1,
        ssh_connect_timeout_s=2,
    )
    process = ServiceProcess(settings_, tmp_path / "infra-service.log")
    process.start()
    try:
        yield Service(process, redis_url, root, settings_.data_dir, server)
    finally:
        try:
            process.stop()
        finally:
            print(f"--- infra-service's output ---\n{process.logs()}")
            deploy_root.rmdir()


def names_the_server(fields: RawFields, server: dict[str, Any]) -> bool:
    """Whether the entry is a valid check of our server (one the service must answer)."""
    try:
        check = decode(text_fields(fields), SERVER_HEALTH_QUEUE.adapter)
    except InvalidEntry:
        return False
    assert isinstance(check, ServerHealthCheck)
    return check.server_handle in (server["name"], server["id"])


@pytest.mark.timeout(600)  # one test item runs every example against one service
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_hostile_checks_are_answered_acknowledged_or_dead_lettered_and_the_service_checks_on(
    service: Service, data: st.DataObject
) -> None:
    marker = service.root / "hostile-marker"
    entries: list[RawFields] = data.draw(
        st.lists(
            hostile_entries(ServerHealthCheck(server_handle=SERVER), marker),
            min_size=1,
            max_size=6,
        )
    )

    async def scenario() -> None:
        redis = connect_redis(service.redis_url)
        try:
            before = await redis.xlen(RESULTS)
            letters_before = set(await dead_letters(redis, QUEUE))
            written = [await xadd_raw(redis, QUEUE, fields) for fields in entries]
            await settled(redis, QUEUE, GROUP, within=60)
            letters = await dead_letters(redis, QUEUE)
            new = {i: letter for i, letter in letters.items() if i not in letters_before}
            assert set(new) <= set(written)
            assert all(letter.reason and letter.error for letter in new.values())
            answers = [json.loads(f["data"]) for _, f in await _entries(redis, RESULTS)][before:]
            # Each valid check of the server got a result (a repeated request its first one
            # again); a check of anything else was acknowledged unanswered.
            expected = sum(names_the_server(fields, service.server) for fields in entries)
            assert len(answers) == expected, (answers, new)
            assert {answer["server_id"] for answer in answers} <= {service.server["id"]}
            assert not any(answer["reachable"] for answer in answers), "nothing listens"
            check = ServerHealthCheck(server_handle=SERVER)
            await RedisStreamPublisher(redis).publish(QUEUE, check)
            await eventually(functools.partial(_answered, redis, check), within=60)
        finally:
            await redis.aclose()

    asyncio.run(scenario())
    assert service.process.exit_code is None, "the service is still running"
    assert not marker.exists(), "an injected command ran"
    outside = {p.name for p in service.root.iterdir()} - {service.data.name}
    assert outside == set(), f"written outside the data dir: {outside}"


async def _answered(redis: Redis, check: ServerHealthCheck) -> bool:
    entries = await _entries(redis, RESULTS)
    return any(json.loads(f["data"])["request_id"] == check.request_id for _, f in entries)


async def _entries(redis: Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    return cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
