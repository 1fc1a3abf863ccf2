"""The workers worker-manager keeps, as the scheduler reads them from real Redis: every live worker
whose status reads, and nothing of one whose record is gone, garbled or someone else's."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from scheduler.adapters.redis_workers import RedisWorkers
from shared.contracts import WorkerState, WorkerType

STAMP = "2026-05-01T12:00:00+00:00"


async def a_worker(redis: Redis, key_id: str, **fields: str) -> None:
    """A status hash under `worker:status:{key_id}` (its `worker_id` field the same, unless
    `fields` say otherwise), and the id in `workers:live`."""
    record: dict[Any, str] = {
        "worker_id": key_id,
        "worker_type": "developer",
        "state": "RUNNING",
        "started_at": STAMP,
        "updated_at": STAMP,
        "handle": "4242",
        "key_id": "",
        "current_task_id": "",
    }
    await redis.hset(f"worker:status:{key_id}", mapping=record | fields)
    await redis.sadd("workers:live", key_id)


async def test_each_live_worker_is_read_with_its_task(redis_client: Redis) -> None:
    await a_worker(redis_client, "developer-1", current_task_id="t1")
    await a_worker(redis_client, "po-1", worker_type="po", state="PAUSED")

    found = dict(await RedisWorkers(redis_client).live_workers())

    assert sorted(found) == ["developer-1", "po-1"]
    assert found["developer-1"].current_task_id == "t1"
    assert found["developer-1"].worker_type is WorkerType.DEVELOPER
    assert found["po-1"].current_task_id is None
    assert found["po-1"].state is WorkerState.PAUSED


async def test_a_record_gone_garbled_or_of_another_worker_is_skipped(redis_client: Redis) -> None:
    await a_worker(redis_client, "developer-1")
    await a_worker(redis_client, "developer-garbled", state="SLEEPWALKING")
    await a_worker(redis_client, "developer-no-time", updated_at="yesterday")
    await a_worker(redis_client, "developer-impostor", worker_id="developer-1")
    await redis_client.sadd("workers:live", "developer-ended-meanwhile", "has a space")
    await redis_client.hset("worker:status:has a space", mapping={"worker_id": "has a space"})

    found = await RedisWorkers(redis_client).live_workers()

    assert [worker_id for worker_id, _ in found] == ["developer-1"]


async def test_no_live_worker_reads_as_none(redis_client: Redis) -> None:
    assert await RedisWorkers(redis_client).live_workers() == []
