"""The status store against a real Redis: final states stay, and what ended expires."""

from __future__ import annotations

from redis.asyncio import Redis
from shared.contracts import WorkerState, WorkerType
from worker_manager.adapters.redis_status_store import RedisStatusStore

TTL_S = 600


async def test_a_final_state_is_written_with_a_lifetime_and_the_worker_is_listed_as_ended(
    redis_client: Redis,
) -> None:
    store = RedisStatusStore(redis_client, finished_ttl_s=TTL_S)
    await store.create("po-1", WorkerType.PO)
    assert await redis_client.ttl("worker:status:po-1") == -1
    await redis_client.set("worker:heartbeat:po-1", "{}")

    assert await store.update("po-1", WorkerState.COMPLETED, exit_code=0)

    assert 0 < await redis_client.ttl("worker:status:po-1") <= TTL_S
    assert 0 < await redis_client.ttl("worker:heartbeat:po-1") <= TTL_S
    assert await store.live() == []
    assert await store.ended() == ["po-1"]
    await store.removed("po-1")
    assert await store.ended() == []


async def test_a_heartbeat_that_expires_already_keeps_its_own_lifetime(redis_client: Redis) -> None:
    store = RedisStatusStore(redis_client, finished_ttl_s=TTL_S)
    await store.create("po-1", WorkerType.PO)
    await redis_client.set("worker:heartbeat:po-1", "{}", ex=30)

    await store.update("po-1", WorkerState.FAILED)

    assert 0 < await redis_client.ttl("worker:heartbeat:po-1") <= 30


async def test_a_final_state_is_never_replaced_by_another(redis_client: Redis) -> None:
    store = RedisStatusStore(redis_client, finished_ttl_s=TTL_S)
    await store.create("po-1", WorkerType.PO)
    assert await store.update("po-1", WorkerState.STOPPED, exit_code=143)

    assert not await store.update("po-1", WorkerState.FAILED, error="terminated (143)")
    assert not await store.update("po-1", WorkerState.RUNNING)

    status = await store.status("po-1")
    assert status is not None
    assert status.state == WorkerState.STOPPED
    assert status.error is None
    assert await store.update("po-1", WorkerState.STOPPED, exit_code=143)  # the same: fine


async def test_a_late_update_does_not_bring_an_expired_status_back(redis_client: Redis) -> None:
    store = RedisStatusStore(redis_client, finished_ttl_s=TTL_S)

    assert not await store.update("po-gone", key_id="")

    assert await redis_client.exists("worker:status:po-gone") == 0
