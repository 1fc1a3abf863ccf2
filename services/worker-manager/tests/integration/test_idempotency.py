"""A create's claim, renewed while it runs, against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from shared.streams import Idempotency, Outcome, RequestInProgress
from shared.testing.waiting import eventually
from worker_manager.adapters.redis_idempotency import RenewedIdempotency

LEASE_S = 0.3


async def test_a_claim_outlives_its_lease_while_the_effect_runs_and_then_is_done(
    redis_client: Redis,
) -> None:
    idempotency = RenewedIdempotency(redis_client, lease_s=LEASE_S)
    key = Idempotency.key("worker-create", "r-1")
    release = asyncio.Event()

    async def build() -> str:
        await release.wait()
        return "po-1"

    running = asyncio.create_task(idempotency.run_once("worker-create", "r-1", build))

    async def claimed() -> int:
        return max(0, int(await redis_client.pttl(key)))

    last = await eventually(claimed)
    assert last <= LEASE_S * 1000

    async def renewed() -> bool:
        # A lifetime longer than the one seen before: the claim was extended, not merely kept.
        nonlocal last
        seen, last = last, int(await redis_client.pttl(key))
        return last > seen

    await eventually(renewed)
    await eventually(renewed)  # and again
    token = await redis_client.get(key)
    with pytest.raises(RequestInProgress):
        await idempotency.run_once("worker-create", "r-1", build)
    assert await redis_client.get(key) == token
    release.set()

    assert await running == (Outcome.RAN, "po-1")
    assert await redis_client.get(key) == "done"
    assert await idempotency.run_once("worker-create", "r-1", build) == (Outcome.ALREADY_DONE, None)


async def test_a_failed_effect_releases_its_claim_and_stops_renewing(redis_client: Redis) -> None:
    idempotency = RenewedIdempotency(redis_client, lease_s=LEASE_S)

    async def broken() -> str:
        raise RuntimeError("the engine is gone")

    with pytest.raises(RuntimeError):
        await idempotency.run_once("worker-create", "r-2", broken)

    assert await redis_client.exists(Idempotency.key("worker-create", "r-2")) == 0
