"""shared.streams.Idempotency with its claim renewed while the effect runs, and the create
requests run through it (`RedisCreations`).

A create may wait for a first image build far longer than any fixed lease would be sure to
cover; were the claim to lapse, another replica handed the same command would start the worker
a second time. The claim is short (a crashed replica's create can be retried soon) and renewed
every third of its lease for as long as the effect runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from redis.asyncio import Redis
from shared.keys import WORKER_CREATED_BY
from shared.streams import Idempotency, Outcome

from worker_manager.ports import Created

T = TypeVar("T")
CREATE_SCOPE = "worker-create"
CREATED_BY_TTL_S = 7 * 24 * 3600
EARLIER_ATTEMPT_FAILED = "the earlier attempt failed"
log = structlog.get_logger("worker_manager")

# Renew the claim only while it is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RenewedIdempotency:
    def __init__(self, redis: Redis, *, lease_s: float) -> None:
        self._redis = redis
        self._inner = Idempotency(redis, lease_s=lease_s)
        self._lease_ms = int(lease_s * 1000)
        self._renew = redis.register_script(_RENEW)

    async def run_once(
        self, scope: str, request_id: str, effect: Callable[[], Awaitable[T]]
    ) -> tuple[Outcome, T | None]:
        """Like Idempotency.run_once; raises RequestInProgress while another delivery runs it."""
        key = Idempotency.key(scope, request_id)

        async def renewed() -> T:
            token = await self._redis.get(key)  # the claim just taken: ours
            # Ended by an event, not by cancelling it: a cancellation that lands inside a Redis
            # call can be swallowed there, and the keeper (and this create) would never end.
            done = asyncio.Event()
            keeper = asyncio.create_task(self._keep(key, str(token), done))
            try:
                return await effect()
            finally:
                done.set()
                await keeper

        return await self._inner.run_once(scope, request_id, renewed)

    async def _keep(self, key: str, token: str, done: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self._lease_ms / 3000)
            if done.is_set():
                return
            try:
                if not await self._renew(keys=[key], args=[token, self._lease_ms]):
                    log.error("a create's claim was lost while it ran", key=key)
                    return
            except Exception as exc:  # Redis away for a moment: try again next time
                log.warning("could not renew a create's claim", key=key, error=str(exc))


class RedisCreations:
    """A create request's start runs once (its claim renewed while it runs); the worker it
    started is kept under `worker:created-by:{request_id}` for a redelivery to get back."""

    def __init__(self, redis: Redis, idempotency: RenewedIdempotency) -> None:
        self._redis = redis
        self._idempotency = idempotency

    async def once(self, request_id: str, start: Callable[[], Awaitable[Created]]) -> Created:
        key = WORKER_CREATED_BY.name(request_id=request_id)

        async def remembered() -> Created:
            created = await start()
            if created.worker_id:
                await self._redis.set(key, created.worker_id, ex=CREATED_BY_TTL_S)
            return created

        outcome, created = await self._idempotency.run_once(CREATE_SCOPE, request_id, remembered)
        if outcome is Outcome.ALREADY_DONE or created is None:
            worker_id = await self._redis.get(key)
            return Created(str(worker_id)) if worker_id else Created(None, EARLIER_ATTEMPT_FAILED)
        return created
