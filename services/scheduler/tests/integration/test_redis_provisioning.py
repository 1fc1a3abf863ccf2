"""Provisioning retries' state on a real Redis: a round, its answers, and what forgetting keeps."""

from __future__ import annotations

from redis.asyncio import Redis
from scheduler.adapters.redis_provisioning import RedisProvisioningRetries


async def test_a_round_its_answers_and_what_forgetting_keeps(redis_client: Redis) -> None:
    retries = RedisProvisioningRetries(redis_client)
    assert await retries.retry_state("web-1") is None
    assert (await retries.requests_made("web-1"), await retries.answered("web-1")) == (0, 0)

    await retries.record_retry("web-1", 1, 5_000)
    await retries.record_retry("web-1", 2, 9_000)
    await retries.record_answer("web-1", 2)
    assert await retries.retry_state("web-1") == (2, 9_000)
    assert (await retries.requests_made("web-1"), await retries.answered("web-1")) == (2, 2)

    await retries.forget("web-1")

    assert await retries.retry_state("web-1") is None
    # Numbers go on in a later round: no request id is used twice.
    assert await retries.requests_made("web-1") == 2
    assert 0 < await redis_client.ttl("scheduler:provisioning:web-1") <= 7 * 24 * 3600
