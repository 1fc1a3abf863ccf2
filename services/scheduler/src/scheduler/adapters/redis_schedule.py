"""The shared schedule in Redis: per job a lease (`scheduler:lock:{job}`), a fence counter and a
state hash, changed only by the scripts below so that every decision is one atomic step on one
clock, Redis's (`TIME`), whatever the replicas' own clocks say."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from shared.contracts import JobOutcome, SchedulerRun
from shared.keys import SCHEDULER_JOB, SCHEDULER_JOB_FENCE, SCHEDULER_JOB_LOCK, SCHEDULER_JOBS
from shared.streams import RedisStreamPublisher
from shared.streams.registry import SCHEDULER_RUNS

from scheduler.ports import Finished, Start

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: lock, state, fence. ARGV: holder, lease ms. -> {fence or 0, now, due or -1 (held)}
_TRY_START = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, now, -1} end
local due = tonumber(redis.call('HGET', KEYS[2], 'next_due_ms') or '0')
if now < due then return {0, now, due} end
local fence = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[1], fence .. ':' .. ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'state', 'running', 'fence', fence, 'holder', ARGV[1],
           'started_ms', now)
return {fence, now, due}
"""
)

# KEYS: lock. ARGV: fence:holder, lease ms. -> 1 renewed, 0 not held
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lock, state. ARGV: fence, holder, outcome, error, next in ms.
# -> {1, started, now, next due} or {0} when a later run started (the fence moved on)
_FINISH = (
    _NOW
    + """
if tonumber(redis.call('HGET', KEYS[2], 'fence') or '0') ~= tonumber(ARGV[1]) then
  return {0}
end
local started = tonumber(redis.call('HGET', KEYS[2], 'started_ms') or now)
local due = math.max(started + tonumber(ARGV[5]), now)
redis.call('HSET', KEYS[2], 'state', 'idle', 'finished_ms', now, 'outcome', ARGV[3],
           'error', ARGV[4], 'next_due_ms', due)
if redis.call('GET', KEYS[1]) == ARGV[1] .. ':' .. ARGV[2] then redis.call('DEL', KEYS[1]) end
return {1, started, now, due}
"""
)


class RedisSchedule:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._publisher = RedisStreamPublisher(redis)
        self._try_start = redis.register_script(_TRY_START)
        self._renew = redis.register_script(_RENEW)
        self._finish = redis.register_script(_FINISH)

    async def register(self, intervals: Mapping[str, float]) -> None:
        """The set names exactly these jobs: one turned off no longer shows in the status."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(SCHEDULER_JOBS.name())
            for job, interval_s in intervals.items():
                pipe.sadd(SCHEDULER_JOBS.name(), job)
                pipe.hset(SCHEDULER_JOB.name(job=job), "interval_s", str(interval_s))
            await pipe.execute()

    async def try_start(self, job: str, holder: str, lease_ms: int) -> Start:
        fence, now, due = _ints(
            await self._try_start(keys=_keys(job, lock=True, state=True, fence=True),
                                  args=[holder, lease_ms])
        )  # fmt: skip
        if fence:
            return Start(fence=fence, now_ms=now, due_ms=None)
        return Start(fence=None, now_ms=now, due_ms=None if due < 0 else due)

    async def renew(self, job: str, fence: int, holder: str, lease_ms: int) -> bool:
        held = await self._renew(keys=_keys(job, lock=True), args=[f"{fence}:{holder}", lease_ms])
        return bool(held)

    async def finish(
        self,
        job: str,
        fence: int,
        holder: str,
        *,
        outcome: JobOutcome,
        error: str | None,
        next_in_ms: int,
    ) -> Finished | None:
        answer = _ints(
            await self._finish(
                keys=_keys(job, lock=True, state=True),
                args=[fence, holder, outcome.value, error or "", max(0, next_in_ms)],
            )
        )
        if not answer[0]:
            return None
        _, started, now, due = answer
        return Finished(started_ms=started, finished_ms=now, next_due_ms=due)

    async def record(self, run: SchedulerRun) -> None:
        await self._publisher.publish(SCHEDULER_RUNS.pattern, run)


def _keys(job: str, *, lock: bool = False, state: bool = False, fence: bool = False) -> list[str]:
    keys = []
    if lock:
        keys.append(SCHEDULER_JOB_LOCK.name(job=job))
    if state:
        keys.append(SCHEDULER_JOB.name(job=job))
    if fence:
        keys.append(SCHEDULER_JOB_FENCE.name(job=job))
    return keys


def _ints(values: Any) -> list[int]:
    return [int(value) for value in values]
