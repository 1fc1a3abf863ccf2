"""Reads of workers' input streams survive entries that are not UTF-8."""

from __future__ import annotations

from redis.asyncio import Redis
from shared.contracts import DeveloperWorkerInput, WorkerType
from shared.streams import RedisStreamPublisher, raw
from shared.streams.registry import DEVELOPER_INPUT, Group
from shared.testing.hostile import xadd_raw
from worker_manager.adapters.redis_unfinished_work import RedisUnfinishedWork

STREAM = DEVELOPER_INPUT.name(worker_id="developer-1")
DEVELOPER_GROUP = Group.DEVELOPER_WORKERS


async def take(redis: Redis, worker_id: str) -> None:
    await redis.xgroup_create(STREAM, DEVELOPER_GROUP, id="0", mkstream=True)
    await raw.xreadgroup(
        raw.raw_reader(redis),
        group=DEVELOPER_GROUP,
        consumer=worker_id,
        stream=STREAM,
        count=10,
        block_ms=100,
    )


async def test_a_dead_workers_undecodable_input_is_skipped_and_its_valid_input_answered(
    redis_client: Redis,
) -> None:
    await xadd_raw(redis_client, STREAM, [b"data", b'{"task_id": "\xff"}'])
    await xadd_raw(redis_client, STREAM, [b"\xfe", b"{}"])
    task = DeveloperWorkerInput(
        task_id="t-1", project_id="p-1", prompt="do it", repo_url="https://example.com/o/r.git"
    )
    await RedisStreamPublisher(redis_client).publish(STREAM, task)
    await take(redis_client, "developer-1")

    answered = await RedisUnfinishedWork(redis_client).report(
        "developer-1", WorkerType.DEVELOPER, "died", 1
    )

    assert answered == [task.request_id]
