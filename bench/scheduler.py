"""A scheduler run's bookkeeping vs a plain Redis lock, same server, same run.

Both sides take and give back a job's hold the same number of times, one after the other, as a
replica does around each run. The plain side is the textbook lock (`SET NX PX`, then a
compare-and-delete script); the schedule's side is `RedisSchedule.try_start` and `finish` (one
script each: Redis's clock, the due time, the fence, the state hash, the lease). Rounds alternate
which side goes first (AB, BA, ...); each round's ratio pairs the two sides' runs, and the median
ratio is reported with the spread (min and max) of the rounds. The cost per run is what the
schedule adds to a job that runs every few seconds at most: it should be far below a millisecond.

Usage: python -P bench/scheduler.py [--runs N] [--rounds R]  (on a Redis server of its own)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from redis.asyncio import Redis
from scheduler.adapters.redis_schedule import RedisSchedule
from shared.contracts import JobOutcome
from shared.streams import connect_redis
from shared.testing.servers import RedisServer

LEASE_MS = 60_000
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def run_plain(redis: Redis, runs: int) -> float:
    """Holds taken and given back per second with a plain lock."""
    release = redis.register_script(_RELEASE)
    start = time.perf_counter()
    for n in range(runs):
        token = f"{n}:bench"
        assert await redis.set("bench:lock", token, nx=True, px=LEASE_MS)
        assert await release(keys=["bench:lock"], args=[token])
    return runs / (time.perf_counter() - start)


async def run_schedule(redis: Redis, runs: int) -> float:
    """Runs started and finished per second through the shared schedule."""
    schedule = RedisSchedule(redis)
    start = time.perf_counter()
    for _ in range(runs):
        started = await schedule.try_start("bench", "bench", LEASE_MS)
        assert started.fence is not None
        finished = await schedule.finish(
            "bench", started.fence, "bench", outcome=JobOutcome.SUCCEEDED, error=None, next_in_ms=0
        )
        assert finished is not None
    return runs / (time.perf_counter() - start)


async def main(runs: int, rounds: int) -> None:
    server = RedisServer()
    server.start()
    redis = connect_redis(server.url)
    try:
        await run_plain(redis, 200)  # warm up both paths
        await run_schedule(redis, 200)
        plain, scheduled, ratios = [], [], []
        for round_no in range(rounds):
            if round_no % 2 == 0:
                plain.append(await run_plain(redis, runs))
                scheduled.append(await run_schedule(redis, runs))
            else:
                scheduled.append(await run_schedule(redis, runs))
                plain.append(await run_plain(redis, runs))
            ratios.append(plain[-1] / scheduled[-1])
            print(
                f"round {round_no + 1}: plain lock {plain[-1]:.0f}/s, "
                f"schedule {scheduled[-1]:.0f}/s, ratio {ratios[-1]:.2f}"
            )
        per_run_us = 1e6 / statistics.median(scheduled)
        print(
            f"RESULT scheduler overhead_ratio={statistics.median(ratios):.2f} "
            f"ratio_min={min(ratios):.2f} ratio_max={max(ratios):.2f} "
            f"schedule_runs_per_s={statistics.median(scheduled):.0f} "
            f"plain_locks_per_s={statistics.median(plain):.0f} "
            f"bookkeeping_us_per_run={per_run_us:.0f} rounds={rounds}"
        )
    finally:
        await redis.aclose()
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.rounds))
