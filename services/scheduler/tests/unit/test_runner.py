"""Each job's loop against an in-memory schedule: what a run records, whatever happens to it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from scheduler.domain.schedule import Job
from scheduler.ports import Finished, Lease, LeaseLost, Start, Summary
from scheduler.runner import Timing, run_forever, run_once
from shared.contracts import JobOutcome, SchedulerRun
from shared.lifetime import Lifetime

TIMING = Timing(lease_s=0.3, poll_s=0.01, jitter=0, grace_s=0.2)


@dataclass
class MemorySchedule:
    """The shared schedule's rules in memory, on a clock the test moves."""

    now_ms: int = 1_000
    fence: int = 0
    holder: str | None = None
    due_ms: int = 0
    started_ms: int = 0
    renewals: int = 0
    renew_refused: bool = False
    try_start_fails: int = 0
    finished: list[tuple[int, JobOutcome, str | None, int]] = field(default_factory=list)
    history: list[SchedulerRun] = field(default_factory=list)

    async def register(self, intervals: Mapping[str, float]) -> None:
        pass

    async def try_start(self, job: str, holder: str, lease_ms: int) -> Start:
        if self.try_start_fails:
            self.try_start_fails -= 1
            raise ConnectionError("Redis is down")
        if self.holder is not None:
            return Start(None, self.now_ms, None)
        if self.now_ms < self.due_ms:
            return Start(None, self.now_ms, self.due_ms)
        self.fence += 1
        self.holder, self.started_ms = holder, self.now_ms
        return Start(self.fence, self.now_ms, None)

    async def renew(self, job: str, fence: int, holder: str, lease_ms: int) -> bool:
        self.renewals += 1
        return not self.renew_refused and fence == self.fence

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
        if fence != self.fence:
            return None
        self.finished.append((fence, outcome, error, next_in_ms))
        self.holder = None
        self.due_ms = max(self.started_ms + next_in_ms, self.now_ms)
        return Finished(self.started_ms, self.now_ms, self.due_ms)

    async def record(self, run: SchedulerRun) -> None:
        self.history.append(run)


def job(run: object, interval_s: float = 60) -> Job:
    return Job("streams", interval_s, run)  # type: ignore[arg-type]


async def run(
    schedule: MemorySchedule, work: object, lifetime: Lifetime | None = None
) -> JobOutcome:
    """One run of the job, as the loop starts it once the schedule gave this replica a fence."""
    start = await schedule.try_start("streams", "a", 300)
    assert start.fence is not None
    return await run_once(
        job(work),
        start.fence,
        lifetime or Lifetime(),
        schedule=schedule,
        replica="a",
        timing=TIMING,
    )


async def test_a_run_that_succeeds_is_recorded_with_its_counts_and_the_next_run_set() -> None:
    schedule = MemorySchedule()

    async def work(lease: Lease) -> Summary:
        return {"trimmed": 3}

    outcome = await run(schedule, work)

    assert outcome is JobOutcome.SUCCEEDED
    assert schedule.finished == [(1, JobOutcome.SUCCEEDED, None, 60_000)]
    assert [(r.fence, r.replica, r.summary) for r in schedule.history] == [(1, "a", {"trimmed": 3})]


async def test_a_run_that_fails_is_recorded_failed_with_why_and_the_job_stays_on_schedule() -> None:
    schedule = MemorySchedule()

    async def work(lease: Lease) -> Summary:
        raise RuntimeError("the API answered 503")

    outcome = await run(schedule, work)

    assert outcome is JobOutcome.FAILED
    assert schedule.finished == [
        (1, JobOutcome.FAILED, "RuntimeError: the API answered 503", 60_000)
    ]


async def test_a_run_whose_lease_is_refused_is_cancelled_and_writes_nothing_more() -> None:
    schedule = MemorySchedule(renew_refused=True)
    wrote_after_losing = False

    async def work(lease: Lease) -> Summary:
        nonlocal wrote_after_losing
        await asyncio.sleep(10)
        wrote_after_losing = True
        return {}

    outcome = await run(schedule, work)

    assert outcome is JobOutcome.FENCED
    assert not wrote_after_losing
    assert schedule.finished[0][1] is JobOutcome.FENCED


async def test_a_job_that_checks_a_lost_lease_stops_before_its_write() -> None:
    schedule = MemorySchedule()

    async def work(lease: Lease) -> Summary:
        schedule.fence += 1  # another run took the job meanwhile
        schedule.renew_refused = True
        while True:
            await asyncio.sleep(0.01)
            lease.check()

    outcome = await run(schedule, work)

    assert outcome is JobOutcome.FENCED
    assert schedule.finished == []  # its end is not recorded: run 2 owns the job's state


async def test_a_run_in_flight_when_the_service_stops_is_interrupted_and_due_at_once() -> None:
    schedule = MemorySchedule()
    lifetime = Lifetime()
    started = asyncio.Event()

    async def work(lease: Lease) -> Summary:
        started.set()
        await asyncio.sleep(10)
        return {}

    running = asyncio.create_task(run(schedule, work, lifetime))
    await started.wait()
    lifetime.stop()

    assert await running is JobOutcome.INTERRUPTED
    assert schedule.finished == [(1, JobOutcome.INTERRUPTED, None, 0)]


async def test_a_run_that_finishes_within_the_grace_is_not_interrupted() -> None:
    schedule = MemorySchedule()
    lifetime = Lifetime()
    started, may_finish = asyncio.Event(), asyncio.Event()

    async def work(lease: Lease) -> Summary:
        started.set()
        await may_finish.wait()
        return {"done": 1}

    running = asyncio.create_task(run(schedule, work, lifetime))
    await started.wait()
    lifetime.stop()
    may_finish.set()  # within the grace: the run ends as soon as it is let

    assert await running is JobOutcome.SUCCEEDED


async def test_the_loop_outlives_redis_being_down_and_runs_the_job_once_it_is_back() -> None:
    schedule = MemorySchedule(try_start_fails=3)
    lifetime = Lifetime()

    async def work(lease: Lease) -> Summary:
        lifetime.stop()
        return {}

    await asyncio.wait_for(
        run_forever(job(work), lifetime, schedule=schedule, replica="a", timing=TIMING), 10
    )

    assert [fence for fence, *_ in schedule.finished] == [1]


async def test_the_loop_does_not_run_a_job_before_it_is_due() -> None:
    schedule = MemorySchedule(due_ms=5_000)
    lifetime = Lifetime()
    waits: list[float] = []
    ran = False

    async def work(lease: Lease) -> Summary:
        nonlocal ran
        ran = True
        return {}

    async def sleep(seconds: float, stopping: asyncio.Event) -> None:
        waits.append(seconds)
        schedule.now_ms += int(seconds * 1000)
        if schedule.now_ms >= 5_000:
            lifetime.stop()

    await run_forever(
        job(work), lifetime, schedule=schedule, replica="a", timing=Timing(60, 2, 0), sleep=sleep
    )

    assert not ran
    assert waits == [2, 2]


async def test_a_lease_check_raises_lease_lost_once_the_lease_is_gone() -> None:
    from scheduler.runner import RunLease

    lease = RunLease("streams", 4)
    lease.check()
    lease.lost.set()
    with pytest.raises(LeaseLost, match="run 4 of streams"):
        lease.check()


async def test_a_run_past_its_time_limit_is_cancelled_and_recorded_failed() -> None:
    schedule = MemorySchedule()
    start = await schedule.try_start("streams", "a", 300)
    assert start.fence is not None
    timing = Timing(lease_s=0.3, poll_s=0.01, jitter=0, grace_s=0.2, run_timeout_s=0.1)

    async def work(lease: Lease) -> Summary:
        await asyncio.sleep(10)
        return {}

    outcome = await run_once(
        job(work), start.fence, Lifetime(), schedule=schedule, replica="a", timing=timing
    )

    assert outcome is JobOutcome.FAILED
    assert schedule.finished == [
        (1, JobOutcome.FAILED, "the run took longer than its time limit (0.1 s)", 60_000)
    ]


async def test_a_run_that_ignores_its_cancellation_is_left_behind_not_waited_for() -> None:
    schedule = MemorySchedule()
    start = await schedule.try_start("streams", "a", 300)
    assert start.fence is not None
    timing = Timing(
        lease_s=0.3, poll_s=0.01, jitter=0, grace_s=0.2, run_timeout_s=0.1, call_timeout_s=0.1
    )
    release = asyncio.Event()

    async def work(lease: Lease) -> Summary:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # a job that will not be stopped
        return {}

    outcome = await run_once(
        job(work), start.fence, Lifetime(), schedule=schedule, replica="a", timing=timing
    )
    release.set()

    assert outcome is JobOutcome.FAILED
    assert schedule.finished[0][1] is JobOutcome.FAILED
