"""Running a handler's effect once per request, however often the request is delivered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from redis.asyncio import Redis

from shared.keys import IDEMPOTENCY

T = TypeVar("T")

_DONE = "done"
# Release the claim only if it is still ours, so a late failure cannot erase another's claim.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Outcome(StrEnum):
    RAN = "ran"
    ALREADY_DONE = "already_done"


class RequestInProgress(RuntimeError):
    """Another delivery of the same request is running its effect right now.

    Raised so the entry stays pending: it is delivered again later, and by then it is done.
    """


class Idempotency:
    """A done-marker per (scope, request_id) in Redis.

    The effect runs under a claim (`SET NX` with a lease); success turns the claim into a done
    marker kept for `done_ttl_s`, failure removes it so a later delivery can try again.
    """

    def __init__(
        self, redis: Redis, *, lease_s: float = 900.0, done_ttl_s: float = 7 * 24 * 3600.0
    ) -> None:
        self._redis = redis
        self._lease_ms = int(lease_s * 1000)
        self._done_ttl_ms = int(done_ttl_s * 1000)
        self._release = redis.register_script(_RELEASE)

    @staticmethod
    def key(scope: str, request_id: str) -> str:
        return IDEMPOTENCY.name(scope=scope, request_id=request_id)

    async def is_done(self, scope: str, request_id: str) -> bool:
        return bool(await self._redis.get(self.key(scope, request_id)) == _DONE)

    async def run_once(
        self, scope: str, request_id: str, effect: Callable[[], Awaitable[T]]
    ) -> tuple[Outcome, T | None]:
        """Run `effect` unless this request already ran it; returns the outcome and its value."""
        key = self.key(scope, request_id)
        token = f"running:{id(effect)}:{request_id}"
        claimed = await self._redis.set(key, token, nx=True, px=self._lease_ms)
        if not claimed:
            if await self._redis.get(key) == _DONE:
                return Outcome.ALREADY_DONE, None
            raise RequestInProgress(f"{scope} request {request_id} is being handled elsewhere")
        try:
            value = await effect()
        except BaseException:
            await self._release(keys=[key], args=[token])
            raise
        await self._redis.set(key, _DONE, px=self._done_ttl_ms)
        return Outcome.RAN, value
