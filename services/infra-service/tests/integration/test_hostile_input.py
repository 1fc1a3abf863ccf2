"""infra-service, as a real process, against entries anyone with Redis access could write: every
entry is answered with a failed result or dead-lettered with a reason, nothing stays pending, no
injected command runs, nothing is written outside the data dir, and the service serves on."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from api.testing import LiveApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from infra_service.config import InfraSettings
from infra_testing import ServiceProcess, short_dir
from redis.asyncio import Redis
from shared.contracts import AnsibleDeployMessage, Message, ProvisionerMessage
from shared.streams import RedisStreamPublisher, connect_redis
from shared.testing.hostile import RawFields, dead_letters, hostile_entries, settled, xadd_raw
from shared.testing.waiting import eventually

GROUP = "infra-service"
DEPLOYS, DEPLOY_RESULTS = "ansible:deploy:queue", "deploy:results"
SETUPS, SETUP_RESULTS = "provisioner:queue", "provisioner:results"
# A server the API does not have: every valid message is answered at once, nothing deployed.
GHOST = "ghost-server"


def deploy() -> AnsibleDeployMessage:
    return AnsibleDeployMessage(
        task_id=uuid.uuid4().hex,
        project_id=uuid.uuid4().hex,
        project_name="ghost",
        repo_full_name="acme/shop",
        commit_sha="abcd1234",
        server=GHOST,
        port=20000,
        secrets_ref="env:SHOP",
    )


def setup() -> ProvisionerMessage:
    return ProvisionerMessage(server_handle=GHOST, force_reinstall=True)


class Service:
    def __init__(self, process: ServiceProcess, redis_url: str, root: Path, data: Path) -> None:
        self.process, self.redis_url, self.root, self.data = process, redis_url, root, data


@pytest.fixture
def service(live_api: LiveApi, redis_url: str, tmp_path: Path) -> Iterator[Service]:
    """One process for every example. One consumer per queue: a request id repeated across
    entries is then never in flight twice (a second claim would wait for the first's lease)."""
    root = tmp_path / "run"
    root.mkdir()
    deploy_root = short_dir("cg-hostile-")
    settings_ = InfraSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=root / "infra",
        local_deploy_root=deploy_root,
        deploy_concurrency=1,
        provision_concurrency=1,
        job_timeout_s=60,
        ssh_attempts=1,
    )
    process = ServiceProcess(settings_, tmp_path / "infra-service.log")
    process.start()
    try:
        yield Service(process, redis_url, root, settings_.data_dir)
        assert not any(deploy_root.iterdir()), "nothing was deployed"
    finally:
        try:
            process.stop()
        finally:
            print(f"--- infra-service's output ---\n{process.logs()}")
            for path in deploy_root.glob("*"):
                path.unlink()
            deploy_root.rmdir()


async def _length(redis: Redis, stream: str) -> int:
    return int(await redis.xlen(stream))


@pytest.mark.timeout(600)  # one test item runs every example against one service
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_hostile_entries_are_all_answered_or_dead_lettered_and_the_service_serves_on(
    service: Service, data: st.DataObject
) -> None:
    marker = service.root / "hostile-marker"
    deploys: list[RawFields] = data.draw(
        st.lists(hostile_entries(deploy(), marker), min_size=1, max_size=4)
    )
    setups: list[RawFields] = data.draw(
        st.lists(hostile_entries(setup(), marker), min_size=1, max_size=4)
    )

    async def scenario() -> None:
        redis = connect_redis(service.redis_url)
        try:
            before = {s: await _length(redis, s) for s in (DEPLOY_RESULTS, SETUP_RESULTS)}
            letters_before = {
                queue: set(await dead_letters(redis, queue)) for queue in (DEPLOYS, SETUPS)
            }
            written = {
                DEPLOYS: [await xadd_raw(redis, DEPLOYS, fields) for fields in deploys],
                SETUPS: [await xadd_raw(redis, SETUPS, fields) for fields in setups],
            }
            for queue in (DEPLOYS, SETUPS):
                await settled(redis, queue, GROUP, within=60)
            for queue, results in ((DEPLOYS, DEPLOY_RESULTS), (SETUPS, SETUP_RESULTS)):
                letters = await dead_letters(redis, queue)
                new = {i: letter for i, letter in letters.items() if i not in letters_before[queue]}
                assert set(new) <= set(written[queue])
                assert all(letter.reason and letter.error for letter in new.values())
                answers = await _length(redis, results) - before[results]
                # Every entry the handler saw got a result (a repeated request its first one).
                assert answers + len(new) == len(written[queue]), (queue, answers, new)
            for _, fields in await _entries(redis, DEPLOY_RESULTS):
                assert '"status":"success"' not in fields["data"], "nothing can deploy"
            # Still reading both queues: a valid message written afterwards is answered.
            for queue, results, message in (
                (DEPLOYS, DEPLOY_RESULTS, deploy()),
                (SETUPS, SETUP_RESULTS, setup()),
            ):
                await RedisStreamPublisher(redis).publish(queue, message)
                await eventually(functools.partial(_answered, redis, results, message), within=60)
        finally:
            await redis.aclose()

    asyncio.run(scenario())
    assert service.process.exit_code is None, "the service is still running"
    assert not marker.exists(), "an injected command ran"
    outside = {p.name for p in service.root.iterdir()} - {service.data.name}
    assert outside == set(), f"written outside the data dir: {outside}"


async def _answered(redis: Redis, results: str, message: Message) -> bool:
    # A result repeats its request's request_id.
    entries = await _entries(redis, results)
    return any(json.loads(f["data"])["request_id"] == message.request_id for _, f in entries)


async def _entries(redis: Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    return cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
