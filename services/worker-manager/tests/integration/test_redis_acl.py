"""Each worker's Redis users on a real server (Redis 6.2 here, 7 with `make test-redis7`): the
wrapper reaches its own worker's keys only, the agent only what its commands need, and both stop
working the moment the worker's users are revoked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from shared.contracts import POWorkerOutput, WorkerLifecycleEvent, WorkerType
from shared.permissions import commands_allowed, redis_rights_for
from shared.streams import ConsumerOptions, RedisStreamPublisher, StreamConsumer, connect_redis
from shared.streams.registry import Group
from shared.testing.waiting import eventually
from worker_manager.adapters.redis_acl import RedisAcl, with_credentials
from worker_manager.ports import WorkerRedisUrls

WORKER = "po-acl1"


@pytest_asyncio.fixture
async def acl(redis_client: Redis, redis_url: str) -> AsyncIterator[RedisAcl]:
    access = RedisAcl(redis_client, redis_url)
    yield access
    for worker_id in await access.holders():
        await access.revoke(worker_id)


@pytest_asyncio.fixture
async def po_urls(acl: RedisAcl) -> WorkerRedisUrls:
    rights = redis_rights_for(commands_allowed("PRODUCT_OWNER"), WORKER)
    return await acl.grant(WORKER, WorkerType.PO, rights)


async def refused(client: Redis, *command: object) -> bool:
    try:
        await client.execute_command(*command)  # type: ignore[no-untyped-call]
    except (NoPermissionError, ResponseError) as exc:
        return "permission" in str(exc).lower() or "NOPERM" in str(exc)
    return False


class TestTheWrapper:
    async def test_it_consumes_its_input_and_publishes_its_output_and_lifecycle(
        self, po_urls: WorkerRedisUrls, redis_client: Redis
    ) -> None:
        wrapper = connect_redis(po_urls.wrapper)
        handled: list[str] = []

        async def handle(message: object) -> None:
            handled.append(type(message).__name__)
            await RedisStreamPublisher(wrapper).publish(
                f"worker:po:{WORKER}:output", POWorkerOutput(user_id="u-1", text="hello")
            )
            await RedisStreamPublisher(wrapper).publish(
                "worker:lifecycle", WorkerLifecycleEvent(worker_id=WORKER, event="started")
            )
            await wrapper.set(f"worker:heartbeat:{WORKER}", "{}", ex=30)
            await wrapper.set(f"worker:session:{WORKER}", "s-1", ex=30)

        consumer = StreamConsumer(
            wrapper,
            stream=f"worker:po:{WORKER}:input",
            group=Group.PO_WORKER,
            consumer=WORKER,
            handler=handle,
            options=ConsumerOptions(batch_size=1, block_ms=50),
        )
        running = asyncio.create_task(consumer.run())
        try:
            await redis_client.xadd(
                f"worker:po:{WORKER}:input",
                {"data": '{"user_id": "u-1", "prompt": "hi", "request_id": "r-1"}'},
            )
            await redis_client.xadd(f"worker:po:{WORKER}:input", {"data": "not json"})
            await eventually(lambda: redis_client.xlen(f"worker:po:{WORKER}:input:dlq"), 10)
        finally:
            consumer.stop()
            await running
            await wrapper.aclose()
        assert handled == ["POWorkerInput"]
        assert await redis_client.xlen(f"worker:po:{WORKER}:output") == 1
        assert await redis_client.get(f"worker:session:{WORKER}") == "s-1"

    async def test_it_reaches_nothing_of_other_workers_or_services(
        self, po_urls: WorkerRedisUrls
    ) -> None:
        wrapper = connect_redis(po_urls.wrapper)
        try:
            attempts = [
                ("XADD", "worker:commands", "*", "data", "{}"),
                ("XADD", "worker:po:po-other:output", "*", "data", "{}"),
                ("XADD", "deploy:results", "*", "data", "{}"),
                ("XADD", "engineering:queue", "*", "data", "{}"),
                ("GET", "worker:session:po-other"),
                ("KEYS", "*"),
                ("FLUSHALL",),
                ("ACL", "LIST"),
                ("CONFIG", "GET", "requirepass"),
                ("EVAL", "return redis.call('XADD','worker:commands','*','a','1')", 0),
                ("CLIENT", "KILL", "TYPE", "normal"),
            ]
            assert [await refused(wrapper, *a) for a in attempts] == [True] * len(attempts)
        finally:
            await wrapper.aclose()


class TestTheAgent:
    async def test_a_po_agent_may_queue_work_and_answer_its_own_user_only(
        self, po_urls: WorkerRedisUrls
    ) -> None:
        agent = connect_redis(po_urls.agent)
        try:
            assert await agent.xadd("engineering:queue", {"data": "{}"})
            assert await agent.xadd("deploy:queue", {"data": "{}"})
            assert await agent.xadd(f"worker:po:{WORKER}:output", {"data": "{}"})
            attempts = [
                ("XADD", "worker:commands", "*", "data", "{}"),
                ("XADD", "worker:po:po-other:output", "*", "data", "{}"),
                ("XADD", "deploy:results", "*", "data", "{}"),
                ("XADD", "worker:lifecycle", "*", "data", "{}"),
                ("XRANGE", "engineering:queue", "-", "+"),
                ("XREADGROUP", "GROUP", "g", "c", "STREAMS", f"worker:po:{WORKER}:input", ">"),
                ("SET", f"worker:heartbeat:{WORKER}", "{}"),
                ("KEYS", "*"),
            ]
            assert [await refused(agent, *a) for a in attempts] == [True] * len(attempts)
        finally:
            await agent.aclose()

    async def test_an_agent_allowed_nothing_can_only_ping(self, acl: RedisAcl) -> None:
        urls = await acl.grant("developer-acl2", WorkerType.DEVELOPER, ())
        agent = connect_redis(urls.agent)
        try:
            assert await agent.ping()
            assert await refused(agent, "XADD", "engineering:queue", "*", "data", "{}")
        finally:
            await agent.aclose()


class TestRevoking:
    async def test_revoked_users_are_cut_off_at_once(
        self, acl: RedisAcl, po_urls: WorkerRedisUrls
    ) -> None:
        agent = connect_redis(po_urls.agent)
        try:
            assert await agent.ping()
            await acl.revoke(WORKER)
            with pytest.raises((AuthenticationError, ConnectionError, ResponseError)):
                await agent.xadd("engineering:queue", {"data": "{}"})
        finally:
            await agent.aclose()
        assert WORKER not in await acl.holders()

    async def test_granting_again_replaces_the_users_and_their_passwords(
        self, acl: RedisAcl, po_urls: WorkerRedisUrls
    ) -> None:
        again = await acl.grant(WORKER, WorkerType.PO, ())
        old, new = connect_redis(po_urls.agent), connect_redis(again.agent)
        try:
            with pytest.raises(AuthenticationError):
                await old.ping()
            assert await refused(new, "XADD", "engineering:queue", "*", "data", "{}")
        finally:
            await old.aclose()
            await new.aclose()


def test_credentials_replace_those_of_the_url() -> None:
    url = with_credentials("redis://:admin@redis.internal:6380/2", "worker.po-1.agent", "p/w@:")
    assert url == "redis://worker.po-1.agent:p%2Fw%40%3A@redis.internal:6380/2"
