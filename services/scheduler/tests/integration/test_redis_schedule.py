"""The shared schedule's scripts on a real Redis: one start per due time, fences in order, a
stale run's end refused."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from scheduler.adapters.redis_schedule import RedisSchedule
from shared.contracts import JobOutcome
from shared.testing.waiting import eventually

LEASE_MS = 10_000


async def lease_gone(redis: Redis) -> bool:
    return await redis.exists("scheduler:lock:streams") == 0


async def test_of_many_replicas_asking_at_once_exactly_one_starts_the_job(
    redis_client: Redis,
) -> None:
    schedule = RedisSchedule(redis_client)

    starts = await asyncio.gather(
        *(schedule.try_start("streams", f"replica-{n}", LEASE_MS) for n in range(20))
    )

    assert [start.fence for start in starts if start.fence is not None] == [1]
    assert all(start.due_ms is None for start in starts)  # the others see it held


async def test_a_finished_job_is_not_started_again_before_its_next_run_is_due(
    redis_client: Redis,
) -> None:
    schedule = RedisSchedule(redis_client)
    first = await schedule.try_start("streams", "a", LEASE_MS)
    assert first.fence == 1

    finished = await schedule.finish(
        "streams", 1, "a", outcome=JobOutcome.SUCCEEDED, error=None, next_in_ms=60_000
    )
    again = await schedule.try_start("streams", "b", LEASE_MS)

    assert finished is not None
    assert finished.next_due_ms == first.now_ms + 60_000
    assert again.fence is None
    assert again.due_ms == finished.next_due_ms


async def test_a_job_due_now_is_started_with_the_next_fence(redis_client: Redis) -> None:
    schedule = RedisSchedule(redis_client)
    await schedule.try_start("streams", "a", LEASE_MS)
    await schedule.finish(
        "streams", 1, "a", outcome=JobOutcome.INTERRUPTED, error=None, next_in_ms=0
    )

    again = await schedule.try_start("streams", "b", LEASE_MS)

    assert again.fence == 2


async def test_the_end_of_a_run_overtaken_by_a_later_one_is_refused(redis_client: Redis) -> None:
    schedule = RedisSchedule(redis_client)
    await schedule.try_start("streams", "a", 1)  # a lease of 1 ms: it expires at once
    await eventually(lambda: lease_gone(redis_client), 5)
    later = await schedule.try_start("streams", "b", LEASE_MS)

    stale = await schedule.finish(
        "streams", 1, "a", outcome=JobOutcome.SUCCEEDED, error=None, next_in_ms=60_000
    )

    assert later.fence == 2
    assert stale is None
    assert not await schedule.renew("streams", 1, "a", LEASE_MS)
    assert await schedule.renew("streams", 2, "b", LEASE_MS)
    state = await redis_client.hgetall("scheduler:job:streams")
    assert (state["state"], state["fence"], state["holder"]) == ("running", "2", "b")


async def test_a_run_that_finished_releases_its_lease_and_says_how_it_ended(
    redis_client: Redis,
) -> None:
    schedule = RedisSchedule(redis_client)
    await schedule.register({"streams": 300})
    await schedule.try_start("streams", "a", LEASE_MS)

    await schedule.finish(
        "streams", 1, "a", outcome=JobOutcome.FAILED, error="the API answered 503", next_in_ms=5
    )

    assert await redis_client.exists("scheduler:lock:streams") == 0
    state = await redis_client.hgetall("scheduler:job:streams")
    assert state["outcome"] == "failed"
    assert state["error"] == "the API answered 503"
    assert state["interval_s"] == "300"
    assert await redis_client.smembers("scheduler:jobs") == {"streams"}
